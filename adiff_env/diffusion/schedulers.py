"""Reverse-process schedulers: DDPM (ancestral), DDIM and consistency, split as in diffusers.

A scheduler knows the noise schedule and how to take one reverse step; it holds no model and
runs no loop (that is :mod:`adiff_env.diffusion.pipeline`). Usage::

    sched = DDIMScheduler(schedule, prediction="x0", eta=0.0)
    sched.set_timesteps(10)                     # any n <= T
    for t in sched.timesteps:                   # descending training-step indices
        out = sched.step(model(x, t), t, x, generator=g)
        x = out.prev_sample                     # also out.pred_x0

Both schedulers convert the model output (``epsilon``, ``x0`` or ``v``) to ``(x0, eps)`` and
optionally clip ``x0`` to ``[-clip_sample, clip_sample]`` (then recompute ``eps``), so one
trained model samples with either. Steps go from ``t`` to ``t_prev`` (the next entry of
``timesteps``, or ``-1`` with ``abar_{-1} = 1`` after the last), with ``a = abar_t``,
``a' = abar_{t_prev}``:

- DDPM: ``x' = sqrt(a') b/(1-a) x0 + sqrt(1-b) (1-a')/(1-a) x_t + sqrt(var) z``, where
  ``b = 1 - a/a'`` and ``var = (1-a')/(1-a) b`` (the posterior; for ``n < T`` steps this is
  the generalised ancestral step of diffusers' DDPMScheduler).
- DDIM: ``x' = sqrt(a') x0 + sqrt(1 - a' - s^2) eps + s z`` with ``s = eta sqrt(var)``; at
  ``eta = 1`` and ``n = T`` it is the DDPM step.
- Consistency (multistep consistency sampling, Song et al. 2023, Alg. 1) for a distilled
  one/two-step model (:mod:`adiff_env.diffusion.distill`): the prediction ``x0`` is the
  answer; before a further step it is re-noised to ``t_prev``,
  ``x' = sqrt(a') x0 + sqrt(1 - a') (sqrt(1 - eta^2) eps + eta z)``: ``eta = 1`` draws fresh
  noise (the paper's sampler), ``eta = 0`` (default) keeps the predicted noise (then the
  update equals deterministic DDIM's). After the last step ``x' = x0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from adiff_env.diffusion.prediction import check_prediction_type, randn, to_x0_eps
from adiff_env.diffusion.schedules import NoiseSchedule, schedule_from_dict
from adiff_env.errors import UnknownNameError

SPACINGS = ("trailing", "leading", "linspace")


@dataclass
class SchedulerOutput:
    """One reverse step: ``prev_sample`` ``x_{t_prev}`` and ``pred_x0``, both ``[B, H, D]``."""

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


def spaced_timesteps(num_train: int, n: int, spacing: str = "trailing") -> np.ndarray:
    """``n`` descending distinct step indices in ``[0, num_train)``.

    ``trailing`` (default) always starts at ``T-1`` (pure noise) — ``round(T - k T/n) - 1``;
    ``leading`` is ``k * (T // n)``; ``linspace`` rounds ``linspace(0, T-1, n)``.
    """
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= num_train:
        raise ValueError(
            f"number of sampling steps must be an int in [1, {num_train}] (the training steps), "
            f"got {n!r}."
        )
    if spacing == "trailing":
        steps = np.round(num_train - np.arange(n) * (num_train / n)).astype(np.int64) - 1
    elif spacing == "leading":
        steps = (np.arange(n) * (num_train // n))[::-1].astype(np.int64)
    elif spacing == "linspace":
        steps = np.round(np.linspace(0, num_train - 1, n))[::-1].astype(np.int64)
    else:
        raise UnknownNameError("timestep spacing", spacing, SPACINGS)
    return steps.copy()


class Scheduler:
    """Shared state and helpers; subclasses implement :meth:`_step`."""

    name = ""

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        clip_sample: float | None = None,
        spacing: str = "trailing",
    ) -> None:
        self.schedule = schedule
        self.prediction = check_prediction_type(prediction)
        if clip_sample is not None and clip_sample <= 0:
            raise ValueError(f"clip_sample must be None or > 0, got {clip_sample}.")
        self.clip_sample = clip_sample
        if spacing not in SPACINGS:
            raise UnknownNameError("timestep spacing", spacing, SPACINGS)
        self.spacing = spacing
        self.num_train_timesteps = schedule.num_steps
        abar = schedule.alphas_cumprod()
        self._abar = abar.tolist()
        self.alphas_cumprod = abar.to(torch.float32)
        self.set_timesteps(schedule.num_steps)

    def set_timesteps(self, n: int) -> None:
        """Use ``n`` reverse steps (``1 <= n <= T``); fills :attr:`timesteps` (``[n]`` long)."""
        steps = spaced_timesteps(self.num_train_timesteps, n, self.spacing)
        self.timesteps = torch.from_numpy(steps)
        nxt = list(steps[1:]) + [-1]
        self._prev = {int(a): int(b) for a, b in zip(steps, nxt)}
        self.num_inference_steps = n

    def prev_timestep(self, t: int) -> int:
        """The step after ``t`` in :attr:`timesteps` (``-1`` after the last)."""
        try:
            return self._prev[int(t)]
        except KeyError:
            raise ValueError(
                f"timestep {int(t)} is not in this scheduler's timesteps "
                f"{self.timesteps.tolist()}; call set_timesteps(n) and iterate scheduler.timesteps."
            ) from None

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """Forward process ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``; ``t`` scalar or ``[B]``."""
        abar = self.alphas_cumprod.to(x0.device)[torch.as_tensor(t, device=x0.device)]
        abar = abar.to(x0.dtype).reshape(-1, *([1] * (x0.ndim - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def step(
        self,
        model_output: torch.Tensor,
        t: int | torch.Tensor,
        x_t: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> SchedulerOutput:
        """One reverse step from ``x_t`` (``[B, H, D]``, one step ``t`` for the batch) to
        ``x_{t_prev}``; noise is drawn from ``generator``. ``t`` is an int, a 0-d tensor or
        a ``[B]`` tensor holding one value."""
        if isinstance(t, torch.Tensor) and t.numel() > 1:
            if bool((t != t.flatten()[0]).any()):
                raise ValueError(
                    "step() takes one diffusion step for the whole batch, got several: "
                    f"{t.unique().tolist()}; sample groups with different steps separately."
                )
            t = t.flatten()[0]
        t = int(t)
        prev = self.prev_timestep(t)
        a = self._abar[t]
        a_prev = self._abar[prev] if prev >= 0 else 1.0
        x0, eps = to_x0_eps(model_output, x_t, a, self.prediction)
        if self.clip_sample is not None:
            x0 = x0.clamp(-self.clip_sample, self.clip_sample)
            eps = (x_t - a**0.5 * x0) / (1 - a) ** 0.5
        return SchedulerOutput(self._step(x0, eps, x_t, a, a_prev, generator), x0)

    def _step(self, x0, eps, x_t, a, a_prev, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-ready description; :func:`scheduler_from_dict` rebuilds it."""
        return {
            "name": self.name,
            "schedule": self.schedule.to_dict(),
            "prediction": self.prediction,
            "clip_sample": self.clip_sample,
            "spacing": self.spacing,
            "num_inference_steps": self.num_inference_steps,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"


class DDPMScheduler(Scheduler):
    """Ancestral sampling with the posterior variance (Ho et al. 2020)."""

    name = "ddpm"

    def _step(self, x0, eps, x_t, a, a_prev, generator):
        beta = 1.0 - a / a_prev
        mean = (a_prev**0.5 * beta / (1 - a)) * x0 + ((1 - beta) ** 0.5 * (1 - a_prev) / (1 - a)) * x_t
        var = (1 - a_prev) / (1 - a) * beta
        if var <= 0:
            return mean
        return mean + var**0.5 * randn(tuple(x_t.shape), x_t, generator)


class DDIMScheduler(Scheduler):
    """Song et al. (2021); ``eta = 0`` is deterministic, ``eta = 1`` is DDPM-like."""

    name = "ddim"

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        clip_sample: float | None = None,
        spacing: str = "trailing",
        eta: float = 0.0,
    ) -> None:
        if eta < 0:
            raise ValueError(f"eta must be >= 0 (0 = deterministic, 1 = DDPM-like), got {eta}.")
        self.eta = float(eta)
        super().__init__(schedule, prediction, clip_sample, spacing)

    def _step(self, x0, eps, x_t, a, a_prev, generator):
        var = (1 - a_prev) / (1 - a) * (1 - a / a_prev)
        sigma = self.eta * var**0.5
        out = a_prev**0.5 * x0 + max(1 - a_prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma <= 0:
            return out
        return out + sigma * randn(tuple(x_t.shape), x_t, generator)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eta": self.eta}


class ConsistencyScheduler(Scheduler):
    """Multistep consistency sampling (module doc); ``eta`` in ``[0, 1]`` is the share of
    fresh noise when re-noising between steps. Meant for 1 or 2 steps of a distilled model."""

    name = "consistency"

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "x0",
        clip_sample: float | None = None,
        spacing: str = "trailing",
        eta: float = 0.0,
    ) -> None:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(
                f"consistency eta must be in [0, 1] (0 = keep the predicted noise, 1 = fresh "
                f"noise), got {eta}."
            )
        self.eta = float(eta)
        super().__init__(schedule, prediction, clip_sample, spacing)

    def _step(self, x0, eps, x_t, a, a_prev, generator):
        if a_prev >= 1.0:
            return x0
        noise = eps
        if self.eta > 0:
            z = randn(tuple(x_t.shape), x_t, generator)
            noise = (1 - self.eta**2) ** 0.5 * eps + self.eta * z
        return a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * noise

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eta": self.eta}


SCHEDULERS: dict[str, type[Scheduler]] = {
    "ddpm": DDPMScheduler, "ddim": DDIMScheduler, "consistency": ConsistencyScheduler,
}


def make_scheduler(
    name: str,
    schedule: NoiseSchedule,
    *,
    prediction: str = "epsilon",
    steps: int | None = None,
    clip_sample: float | None = None,
    spacing: str = "trailing",
    eta: float = 0.0,
) -> Scheduler:
    """Build ``"ddpm"``, ``"ddim"`` or ``"consistency"`` over ``schedule`` with ``steps``
    reverse steps (default: all ``T``). ``eta`` applies to DDIM and consistency only."""
    if name not in SCHEDULERS:
        raise UnknownNameError("sampler", name, SCHEDULERS)
    if name in ("ddim", "consistency"):
        sched: Scheduler = SCHEDULERS[name](schedule, prediction, clip_sample, spacing, eta=eta)  # type: ignore[call-arg]
    else:
        sched = DDPMScheduler(schedule, prediction, clip_sample, spacing)
    if steps is not None:
        sched.set_timesteps(steps)
    return sched


def scheduler_from_dict(data: dict[str, Any]) -> Scheduler:
    """Inverse of :meth:`Scheduler.config`."""
    data = dict(data)
    try:
        name = data.pop("name")
        schedule = schedule_from_dict(data.pop("schedule"))
    except KeyError as exc:
        raise ValueError(f"scheduler config misses {exc}; got keys {sorted(data)}.") from None
    steps = data.pop("num_inference_steps", None)
    try:
        return make_scheduler(name, schedule, steps=steps, **data)
    except TypeError as exc:
        raise ValueError(f"bad scheduler config {data!r}: {exc}") from exc
