"""Reward-gradient guidance (Janner et al. 2022, Diffuser's ``n_step_guided_p_sample``).

Before each reverse step at diffusion step ``t`` the pipeline moves the noisy plan uphill on
a reward ``R``, ``n_guide_steps`` times:

    g = grad_x R(x, t)                  (one gradient per candidate, summed over the batch)
    g = var_t * g                       if scale_grad_by_std (var_t: clipped posterior variance)
    g = 0                               if t < t_stopgrad
    x = conditioner(x + scale * g)

``R`` is a :class:`Guide`: ``guide(x: [B, H, D], t: [B]) -> [B]`` rewards. Two ready-made
guides: :class:`RewardGuide` wraps any differentiable torch function of the trajectory
(``t`` ignored), :class:`ValueGuide` a learned value network ``V(x_t, t)`` trained on noisy
trajectories (:mod:`adiff_env.diffusion.value`). Guides also rank the final candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from adiff_env.diffusion.conditioning import Conditioner


@runtime_checkable
class Guide(Protocol):
    """A reward of noisy trajectories: ``(x: [B, H, D], t: [B] long) -> [B]``, differentiable
    in ``x``."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...


class RewardGuide:
    """Guide from a differentiable reward of the (clean-space) trajectory ``fn(x) -> [B]``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class ValueGuide:
    """Guide from a learned value network ``model(x_t, t) -> [B]``; only ``x`` is
    differentiated (the network's parameters get no gradients)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.model(x, t)


@dataclass(frozen=True)
class GuidanceConfig:
    """``scale``: step size on the gradient (0 disables guidance). ``n_guide_steps``: gradient
    steps per reverse step. ``t_stopgrad``: no guidance at diffusion steps ``t < t_stopgrad``.
    ``scale_grad_by_std``: multiply the gradient by the posterior variance at ``t`` (Diffuser).
    Defaults follow Diffuser's locomotion config (0.1, 2, 2, True)."""

    scale: float = 0.1
    n_guide_steps: int = 2
    t_stopgrad: int = 2
    scale_grad_by_std: bool = True

    def __post_init__(self) -> None:
        if self.n_guide_steps < 0 or self.t_stopgrad < 0:
            raise ValueError(
                f"n_guide_steps and t_stopgrad must be >= 0, got {self.n_guide_steps}, "
                f"{self.t_stopgrad}."
            )


def reward_gradient(guide: Guide, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R(x, t) [B], grad_x sum_b R [B, H, D])``, computed with grad enabled on a detached copy."""
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        reward = guide(x_in, t)
        if reward.shape != (x.shape[0],):
            raise ValueError(
                f"a guide must return one reward per trajectory, shape [{x.shape[0]}], got "
                f"{tuple(reward.shape)}; reduce over time and features inside the reward."
            )
        (grad,) = torch.autograd.grad(reward.sum(), x_in)
    return reward.detach(), grad.detach()


def guide_step(
    x: torch.Tensor,
    t: int,
    guide: Guide,
    config: GuidanceConfig,
    posterior_variance: torch.Tensor,
    conditioner: Conditioner | None = None,
) -> torch.Tensor:
    """Apply ``n_guide_steps`` guidance updates at diffusion step ``t`` (see module doc).

    ``posterior_variance``: ``[T]`` clipped posterior variances of the training schedule.
    Returns the updated ``[B, H, D]``; ``x`` unchanged when ``t < t_stopgrad`` or scale 0.
    """
    if config.scale == 0 or t < config.t_stopgrad:
        return x
    t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
    for _ in range(config.n_guide_steps):
        _, grad = reward_gradient(guide, x, t_batch)
        if config.scale_grad_by_std:
            grad = grad * float(posterior_variance[t])
        x = x + config.scale * grad
        if conditioner is not None:
            x = conditioner.apply(x)
    return x
