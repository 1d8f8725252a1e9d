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

``GuidanceConfig.method`` picks where the gradient acts (``xt`` is the default above,
unchanged bit for bit). The two x0-space methods edit the model's clean prediction
``x0_hat = x0_hat(x_t, t)`` before the scheduler's update, so the edit reaches the next
``x_{t'}`` (DDIM: ``x' = sqrt(a') x0_hat + sqrt(1 - a') eps(x_t, x0_hat)``) and, at the last
step, the returned plan itself:

- ``"dps"`` (DPS, Chung et al. 2023; universal guidance's forward guidance, Bansal et al.
  2023): ``x0_hat <- x0_hat + scale * grad_{x_t} R(x0_hat(x_t))``, the gradient taken through
  the denoiser (one extra backward pass per reverse step; ``n_guide_steps`` is not used).
- ``"x0"``: ``n_guide_steps`` gradient steps on ``x0_hat`` itself,
  ``x0_hat <- cond(x0_hat + scale * grad R(x0_hat))`` (no backward pass through the model;
  universal guidance's backward guidance as plain gradient ascent).
- ``recurrence_steps`` k > 0 (any method): at steps ``t <= t_recurrence`` (low noise), k more
  gradient steps on ``x0_hat`` itself after the method's own update, so the last steps, whose
  ``x0_hat`` is nearly the output, follow the reward closely.

Guides are called on ``x0_hat`` with ``t = 0`` (a clean trajectory); ``scale_grad_by_std``
applies to ``xt`` only. Inpainted entries are re-imposed after every edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from adiff_env.diffusion.conditioning import Conditioner
from adiff_env.diffusion.prediction import to_x0_eps, x0_to_output
from adiff_env.errors import UnknownNameError

GUIDANCE_METHODS = ("xt", "dps", "x0")


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
    steps per reverse step (``xt`` on ``x_t``, ``x0`` on ``x0_hat``). ``t_stopgrad``: no guidance
    at diffusion steps ``t < t_stopgrad``. ``scale_grad_by_std``: multiply the ``xt`` gradient
    by the posterior variance at ``t`` (Diffuser). Defaults follow Diffuser's locomotion config
    (0.1, 2, 2, True). ``method``: ``"xt"`` (Diffuser, default), ``"dps"`` or ``"x0"`` (module
    doc). ``recurrence_steps`` / ``t_recurrence``: extra gradient steps on ``x0_hat`` at steps
    ``t <= t_recurrence`` (0 = none)."""

    scale: float = 0.1
    n_guide_steps: int = 2
    t_stopgrad: int = 2
    scale_grad_by_std: bool = True
    method: str = "xt"
    recurrence_steps: int = 0
    t_recurrence: int = 0

    def __post_init__(self) -> None:
        if self.n_guide_steps < 0 or self.t_stopgrad < 0:
            raise ValueError(
                f"n_guide_steps and t_stopgrad must be >= 0, got {self.n_guide_steps}, "
                f"{self.t_stopgrad}."
            )
        if self.method not in GUIDANCE_METHODS:
            raise UnknownNameError("guidance method", str(self.method), GUIDANCE_METHODS)
        if self.recurrence_steps < 0 or self.t_recurrence < 0:
            raise ValueError(
                f"recurrence_steps and t_recurrence must be >= 0, got {self.recurrence_steps}, "
                f"{self.t_recurrence}."
            )

    @property
    def active(self) -> bool:
        """Whether this config changes sampling at all (a non-zero scale and some step)."""
        steps = self.n_guide_steps if self.method != "dps" else 1
        return self.scale != 0 and (steps > 0 or self.recurrence_steps > 0)

    @property
    def edits_x0(self) -> bool:
        """Whether the pipeline must take the x0-space path (:func:`x0_guided_step`)."""
        return self.method != "xt" or self.recurrence_steps > 0


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


def x0_guided_step(
    model: nn.Module,
    scheduler: Any,
    x: torch.Tensor,
    t: int,
    cond: torch.Tensor | None,
    guide: Guide,
    config: GuidanceConfig,
    conditioner: Conditioner | None = None,
    generator: torch.Generator | None = None,
) -> Any:
    """One reverse step from ``x = x_t`` ``[B, H, D]`` with x0-space guidance (module doc):
    predict ``x0_hat``, edit it (``dps`` / ``x0`` / recurrence), re-impose ``conditioner``, and
    hand it to ``scheduler.step`` as the model output that yields this ``x0_hat``. Returns the
    scheduler's :class:`~adiff_env.diffusion.schedulers.SchedulerOutput`."""
    b = x.shape[0]
    t_batch = torch.full((b,), t, device=x.device, dtype=torch.long)
    clean = torch.zeros(b, device=x.device, dtype=torch.long)
    abar = float(scheduler.alphas_cumprod[t])
    on = config.scale != 0 and t >= config.t_stopgrad
    if on and config.method == "dps":
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            x0 = to_x0_eps(model(x_in, t_batch, cond), x_in, abar, scheduler.prediction)[0]
            reward = guide(conditioner.apply(x0) if conditioner is not None else x0, clean)
            if reward.shape != (b,):
                raise ValueError(
                    f"a guide must return one reward per trajectory, shape [{b}], got "
                    f"{tuple(reward.shape)}; reduce over time and features inside the reward."
                )
            (grad,) = torch.autograd.grad(reward.sum(), x_in)
        x0 = x0.detach() + config.scale * grad.detach()
    else:
        x0 = to_x0_eps(model(x, t_batch, cond), x, abar, scheduler.prediction)[0]
    steps = config.n_guide_steps if on and config.method == "x0" else 0
    if config.scale != 0 and t <= config.t_recurrence:
        steps += config.recurrence_steps
    for _ in range(steps):
        if conditioner is not None:
            x0 = conditioner.apply(x0)
        _, grad = reward_gradient(guide, x0, clean)
        x0 = x0 + config.scale * grad
    if conditioner is not None:
        x0 = conditioner.apply(x0)
    return scheduler.step(x0_to_output(x0, x, abar, scheduler.prediction), t, x, generator=generator)
