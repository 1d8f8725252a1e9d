"""The sampling loop: model + scheduler + conditioner + guidance -> ranked candidate plans.

Nothing here knows the model's architecture or the scheduler's update rule::

    x ~ N(0, I) of shape [N, H, D];  x = cond(x)
    for t in scheduler.timesteps:                     (descending)
        x = guide_step(x, t)                          (x_t guidance, method "xt")
        out = scheduler.step(model(x, t, c), t, x, generator)
              (x0-space methods: x0_guided_step edits the predicted x0 before the update)
        x = cond(out.prev_sample)
    rewards = reward(x) ; ranking = argsort(-rewards)

Inpainting is re-applied after every step and to the output, so pinned entries equal their
values exactly. Without guidance the loop runs under ``torch.inference_mode``; with guidance
under ``no_grad`` for the model and ``enable_grad`` for the guide only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from adiff_env.diffusion.conditioning import Conditioner
from adiff_env.diffusion.guidance import GuidanceConfig, Guide, guide_step, x0_guided_step
from adiff_env.diffusion.prediction import randn
from adiff_env.diffusion.schedulers import Scheduler


@dataclass
class SampleOutput:
    """``samples: [N, H, D]`` in draw order; ``rewards: [N]`` (None without a reward);
    ``ranking: [N]`` long, indices best first (draw order without a reward); ``chain``:
    ``[S + 1, N, H, D]`` intermediate samples when requested."""

    samples: torch.Tensor
    rewards: torch.Tensor | None
    ranking: torch.Tensor
    chain: torch.Tensor | None = None

    @property
    def best(self) -> torch.Tensor:
        """The top-ranked plan, ``[H, D]``."""
        return self.samples[self.ranking[0]]

    @property
    def ranked(self) -> torch.Tensor:
        """All samples best first, ``[N, H, D]``."""
        return self.samples[self.ranking]


def clipped_posterior_variance(scheduler: Scheduler) -> torch.Tensor:
    """``[T]`` posterior variances with ``var[0] := var[1]`` (Diffuser's clipped log-variance)."""
    var = scheduler.schedule.posterior_variance().to(torch.float32)
    if var.numel() > 1:
        var[0] = var[1]
    return var


def sample(
    model: nn.Module,
    scheduler: Scheduler,
    shape: tuple[int, int, int],
    *,
    device: torch.device | str,
    generator: torch.Generator | None = None,
    conditioner: Conditioner | None = None,
    cond: torch.Tensor | None = None,
    guide: Guide | None = None,
    guidance: GuidanceConfig | None = None,
    reward_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    return_chain: bool = False,
    dtype: torch.dtype = torch.float32,
) -> SampleOutput:
    """Draw ``N`` plans of ``shape = (N, H, D)`` with ``scheduler``'s current timesteps.

    ``cond``: ``[N, cond_dim]`` global condition passed to the model. ``guide`` with
    ``guidance`` (default :class:`GuidanceConfig()`) steers sampling; ``reward_fn(x) -> [N]``
    ranks the final plans (default: ``guide(x, t=0)``; none: draw order). ``generator`` drives
    all noise, so a fixed seed gives identical plans. A model in training mode is run in eval
    mode and put back in training mode afterwards; one in eval mode (``model.eval()``, as the
    planners keep theirs) is run as it is, without walking its submodules.
    """
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (N, H, D) with positive sizes, got {shape!r}.")
    device = torch.device(device)
    guidance = guidance or GuidanceConfig()
    use_guide = guide is not None and guidance.active
    in_x0 = use_guide and guidance.edits_x0
    variance = clipped_posterior_variance(scheduler) if use_guide else None
    ctx = torch.no_grad() if use_guide else torch.inference_mode()
    # eval()/train() walk every submodule (~210 for the maze U-Net; two walks cost more than a
    # one-step student's forward at batch 1): only a model in training mode is switched
    was_training = model.training
    if was_training:
        model.eval()
    try:
        with ctx:
            like = torch.empty(0, device=device, dtype=dtype)
            x = randn(tuple(shape), like, generator)
            if conditioner is not None:
                x = conditioner.apply(x)
            chain = [x] if return_chain else None
            for t in scheduler.timesteps.tolist():
                if use_guide and guidance.method == "xt":
                    x = guide_step(x, t, guide, guidance, variance, conditioner)
                if in_x0:
                    x = x0_guided_step(model, scheduler, x, t, cond, guide, guidance, conditioner, generator).prev_sample
                else:
                    t_batch = torch.full((shape[0],), t, device=device, dtype=torch.long)
                    x = scheduler.step(model(x, t_batch, cond), t, x, generator=generator).prev_sample
                if conditioner is not None:
                    x = conditioner.apply(x)
                if chain is not None:
                    chain.append(x)
            rewards = None
            if reward_fn is not None:
                rewards = reward_fn(x)
            elif guide is not None:
                rewards = guide(x, torch.zeros(shape[0], device=device, dtype=torch.long))
    finally:
        if was_training:
            model.train()
    if rewards is not None:
        rewards = rewards.detach().clone()
        ranking = torch.argsort(rewards, descending=True, stable=True)
    else:
        ranking = torch.arange(shape[0], device=device)
    stacked = torch.stack(chain) if chain is not None else None
    if x.is_inference():
        x = x.clone()
    return SampleOutput(samples=x, rewards=rewards, ranking=ranking, chain=stacked)
