"""The diffusion training loss (no sampling here: that is the schedulers' and pipeline's job).

For a batch of clean trajectories ``x0: [B, H, D]``:

    t ~ U{0, .., T-1},  eps ~ N(0, I),  x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    x_t = conditioner(x_t)                        (pinned entries set to their clean values)
    loss = sum(w * keep * err(model(x_t, t, cond), target)) / sum(w * keep)

``target`` is ``eps``, ``x0`` or ``v`` (:mod:`adiff_env.diffusion.prediction`), ``err`` is
squared (``l2``) or absolute (``l1``) error, ``w`` the per-entry loss weights (``[D]`` per
feature or ``[H, D]`` per step and feature, default 1) and ``keep`` is 0 on entries the
conditioner pins: the model never has to predict what inpainting overwrites (their noise is
not in ``x_t``), which keeps the three prediction types consistent with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from adiff_env.diffusion.conditioning import Inpainting
from adiff_env.diffusion.prediction import check_prediction_type, prediction_target, randn
from adiff_env.diffusion.schedules import NoiseSchedule
from adiff_env.errors import UnknownNameError

LOSSES = ("l2", "l1")


@dataclass
class LossOutput:
    """``loss`` (scalar, differentiable), the sampled steps ``t: [B]`` and the per-sample
    weighted loss ``per_sample: [B]`` (detached), e.g. for logging by noise level."""

    loss: torch.Tensor
    t: torch.Tensor
    per_sample: torch.Tensor


class DiffusionObjective:
    """The denoising loss for ``prediction`` in ``{"epsilon", "x0", "v"}`` and ``loss`` in
    ``{"l2", "l1"}``; ``weights`` ``[D]`` or ``[H, D]`` (non-negative)."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        loss: str = "l2",
        weights: torch.Tensor | None = None,
    ) -> None:
        self.schedule = schedule
        self.prediction = check_prediction_type(prediction)
        if loss not in LOSSES:
            raise UnknownNameError("loss", loss, LOSSES)
        self.loss_type = loss
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float32)
            if weights.ndim not in (1, 2) or bool((weights < 0).any()):
                raise ValueError(
                    "loss weights must be non-negative, shape [D] or [H, D], got "
                    f"shape {tuple(weights.shape)}."
                )
        self.weights = weights
        self.alphas_cumprod = schedule.alphas_cumprod().to(torch.float32)

    def _weights(self, x0: torch.Tensor) -> torch.Tensor:
        if self.weights is None:
            return torch.ones_like(x0)
        if self.weights.shape != x0.shape[-self.weights.ndim :]:
            raise ValueError(
                f"loss weights of shape {tuple(self.weights.shape)} do not fit trajectories "
                f"{tuple(x0.shape)}; use [D] = [{x0.shape[-1]}] or [H, D] = {list(x0.shape[1:])}."
            )
        return self.weights.to(x0.device, x0.dtype).expand_as(x0)

    def __call__(
        self,
        model: nn.Module,
        x0: torch.Tensor,
        *,
        conditioner: Inpainting | None = None,
        cond: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        weight_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> LossOutput:
        """Loss on ``x0: [B, H, D]``; ``t`` ``[B]`` and ``noise`` ``[B, H, D]`` override the draws
        (tests, curricula, data-parallel ranks that draw a global batch's noise).

        ``weight_sum`` maps this batch's total loss weight ``sum(w * keep)`` to the one to divide
        by; data-parallel training passes the global batch's total over the world size
        (:func:`adiff_env.distributed.ddp.global_mean_weight`), so that averaging gradients over
        ranks gives exactly the gradient of the whole global batch's loss."""
        b = x0.shape[0]
        if t is None:
            gen_device = generator.device if generator is not None else x0.device
            t = torch.randint(0, self.schedule.num_steps, (b,), generator=generator, device=gen_device)
        t = t.to(x0.device)
        eps = randn(tuple(x0.shape), x0, generator) if noise is None else noise.to(x0.device, x0.dtype)
        abar = self.alphas_cumprod.to(x0.device, x0.dtype)[t]
        a = abar.view(-1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        w = self._weights(x0)
        if conditioner is not None:
            x_t = conditioner.apply(x_t)
            w = w * conditioner.free_mask(x0)
        out = model(x_t, t, cond)
        target = prediction_target(x0, eps, abar, self.prediction)
        diff = out - target
        err = diff.square() if self.loss_type == "l2" else diff.abs()
        num = (w * err).flatten(1).sum(-1)
        den = w.flatten(1).sum(-1)
        total = den.sum() if weight_sum is None else weight_sum(den.sum().detach())
        loss = num.sum() / total.clamp_min(1e-12)
        return LossOutput(loss, t, (num / den.clamp_min(1e-12)).detach())
