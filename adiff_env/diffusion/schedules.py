"""Noise schedules: the forward process ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``.

A schedule is a small frozen dataclass (its fields are its config) that yields, for ``T``
training steps indexed ``t = 0 .. T-1`` (``t = 0`` is the least noisy):

- ``betas[t]``           in (0, 1), the per-step noise variance,
- ``alphas[t]``          ``= 1 - betas[t]``,
- ``alphas_cumprod[t]``  ``abar_t = prod_{s<=t} alphas[s]``, strictly decreasing in t,
- ``posterior_variance[t]`` ``= betas[t] (1 - abar_{t-1}) / (1 - abar_t)`` (``abar_{-1} = 1``),
  the variance of ``q(x_{t-1} | x_t, x_0)``; zero at ``t = 0``.

All tensors are float64 of shape ``[T]`` on the CPU; schedulers cast them as needed.
Schedules are rebuilt from JSON with :func:`schedule_from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch

from adiff_env.errors import UnknownNameError

_MAX_BETA = 0.999


@dataclass(frozen=True)
class NoiseSchedule:
    """Base class: subclasses implement :meth:`betas`. ``num_steps`` is ``T``."""

    num_steps: int = 100
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.num_steps, int) or self.num_steps < 1:
            raise ValueError(
                f"num_steps must be a positive int, got {self.num_steps!r}; "
                "use e.g. num_steps=64 training steps."
            )

    def betas(self) -> torch.Tensor:
        """``[T]`` float64 betas in (0, 1)."""
        raise NotImplementedError

    def alphas(self) -> torch.Tensor:
        """``[T]`` ``1 - betas``."""
        return 1.0 - self.betas()

    def alphas_cumprod(self) -> torch.Tensor:
        """``[T]`` ``abar_t = prod_{s<=t} (1 - beta_s)``, strictly decreasing."""
        return torch.cumprod(self.alphas(), dim=0)

    def posterior_variance(self) -> torch.Tensor:
        """``[T]`` ``beta_t (1 - abar_{t-1}) / (1 - abar_t)``; 0 at t=0."""
        betas = self.betas()
        abar = torch.cumprod(1.0 - betas, dim=0)
        abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
        return betas * (1.0 - abar_prev) / (1.0 - abar)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready config, ``{"name": ..., **fields}``; inverse of :func:`schedule_from_dict`."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class LinearSchedule(NoiseSchedule):
    """DDPM's linear betas from ``beta_start`` to ``beta_end`` (Ho et al. 2020: 1e-4 to 0.02 at
    T=1000). The defaults rescale by ``1000 / T`` so short schedules still reach noise."""

    beta_start: float | None = None
    beta_end: float | None = None
    name: ClassVar[str] = "linear"

    def betas(self) -> torch.Tensor:
        scale = 1000.0 / self.num_steps
        start = self.beta_start if self.beta_start is not None else 1e-4 * scale
        end = self.beta_end if self.beta_end is not None else min(0.02 * scale, _MAX_BETA)
        if not 0.0 < start <= end < 1.0:
            raise ValueError(
                f"LinearSchedule needs 0 < beta_start <= beta_end < 1, got {start}, {end}."
            )
        return torch.linspace(start, end, self.num_steps, dtype=torch.float64)


@dataclass(frozen=True)
class CosineSchedule(NoiseSchedule):
    """Nichol & Dhariwal (2021): ``abar(t) = cos^2(((t/T + s) / (1 + s)) pi/2)``, betas from the
    ratio of consecutive ``abar`` clipped to ``max_beta``. Diffuser's default."""

    s: float = 0.008
    max_beta: float = _MAX_BETA
    name: ClassVar[str] = "cosine"

    def betas(self) -> torch.Tensor:
        steps = torch.arange(self.num_steps + 1, dtype=torch.float64) / self.num_steps
        f = torch.cos((steps + self.s) / (1 + self.s) * math.pi / 2) ** 2
        return (1.0 - f[1:] / f[:-1]).clamp(min=1e-8, max=self.max_beta)


@dataclass(frozen=True)
class SigmoidSchedule(NoiseSchedule):
    """Jabri et al. (2022): ``abar`` follows a shifted sigmoid between ``start`` and ``end``
    with temperature ``tau``; flatter near both ends than cosine."""

    start: float = -3.0
    end: float = 3.0
    tau: float = 1.0
    max_beta: float = _MAX_BETA
    name: ClassVar[str] = "sigmoid"

    def betas(self) -> torch.Tensor:
        steps = torch.arange(self.num_steps + 1, dtype=torch.float64) / self.num_steps
        v_start = torch.sigmoid(torch.tensor(self.start / self.tau, dtype=torch.float64))
        v_end = torch.sigmoid(torch.tensor(self.end / self.tau, dtype=torch.float64))
        f = (-torch.sigmoid((steps * (self.end - self.start) + self.start) / self.tau) + v_end)
        f = f / (v_end - v_start)
        return (1.0 - f[1:] / f[:-1]).clamp(min=1e-8, max=self.max_beta)


SCHEDULES: dict[str, type[NoiseSchedule]] = {
    cls.name: cls for cls in (LinearSchedule, CosineSchedule, SigmoidSchedule)
}


def make_schedule(name: str, num_steps: int, **params: float) -> NoiseSchedule:
    """Build a schedule by name (``linear``, ``cosine``, ``sigmoid``) with ``T = num_steps``."""
    if name not in SCHEDULES:
        raise UnknownNameError("noise schedule", name, SCHEDULES)
    return SCHEDULES[name](num_steps=num_steps, **params)


def schedule_from_dict(data: dict[str, Any]) -> NoiseSchedule:
    """Inverse of :meth:`NoiseSchedule.to_dict`."""
    data = dict(data)
    name = data.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"schedule config needs a string 'name', got {data!r}.")
    if name not in SCHEDULES:
        raise UnknownNameError("noise schedule", name, SCHEDULES)
    try:
        return SCHEDULES[name](**data)
    except TypeError as exc:
        raise ValueError(f"bad fields for the {name!r} schedule: {exc}") from exc
