"""Reward algebra for self-evolution, domain-agnostic: the reward protocol, weighted sums, a
learned preference reward, the adapter to a planner's guidance, and reward lookup by name.

A reward scores a trajectory of states ``[T, D]``. Every :class:`RewardFn` has

- ``__call__(trajectory: np.ndarray [T, D]) -> float`` — the score used by the buffer and filter;
- optionally ``torch_reward(x: Tensor [B, H, D]) -> Tensor [B]`` — a differentiable surrogate
  used for reward-gradient guidance (:func:`planner_guide` adapts it to a planner's normalized
  ``[B, H, A + O]`` plans and wraps it in :class:`adiff_env.diffusion.RewardGuide`).

Here:

- :class:`Composite`: ``sum_i w_i R_i`` (torch form only if every term has one).
- :class:`PreferenceReward`: an MLP on the resampled position sequence (the first two state
  columns, :func:`trajectory_positions`), fitted from pairs "a better than b" with the
  Bradley-Terry loss ``-log sigmoid(R(a) - R(b))``.
- :func:`reward_factories` / :func:`build_reward`: rewards by name. A domain hands in its
  built-in factories (e.g. :data:`adiff_env.maze.rewards.MAZE_REWARDS`); plugins add names
  through the entry-point group ``adiff_env.rewards`` (a callable ``factory(env, **kwargs) ->
  RewardFn``).

Task rewards of a domain (goal, path length, coins, walls ...) live in the domain's folder,
e.g. :mod:`adiff_env.maze.rewards`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from adiff_env.errors import UnknownNameError


@runtime_checkable
class RewardFn(Protocol):
    """``reward(trajectory [T, D]) -> float``; ``torch_reward`` (optional) is its differentiable form."""

    def __call__(self, trajectory: np.ndarray) -> float: ...


def has_torch(reward: Any) -> bool:
    """Whether ``reward`` offers a differentiable ``torch_reward``."""
    return callable(getattr(reward, "torch_reward", None)) and getattr(reward, "differentiable", True)


def trajectory_positions(trajectory: np.ndarray) -> np.ndarray:
    """The first two columns ``[T, 2]`` of a trajectory ``[T, D]`` (positions by convention)."""
    arr = np.asarray(trajectory, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] < 1:
        raise ValueError(f"a trajectory must have shape [T, D] with T >= 1 and D >= 2 (x, y first), got {arr.shape}.")
    return arr[:, :2]


def batch_positions(x: torch.Tensor) -> torch.Tensor:
    """The first two columns ``[B, H, 2]`` of a batch of trajectories ``[B, H, D]``."""
    if x.ndim != 3 or x.shape[-1] < 2:
        raise ValueError(f"torch_reward expects [B, H, D] with D >= 2 (x, y first), got {tuple(x.shape)}.")
    return x[..., :2]


class Composite:
    """``sum_i weight_i * reward_i`` over ``terms = [(weight, reward), ...]``."""

    def __init__(self, terms: Sequence[tuple[float, Any]]) -> None:
        if not terms:
            raise ValueError("Composite needs at least one (weight, reward) term.")
        self.terms = [(float(w), r) for w, r in terms]

    @property
    def differentiable(self) -> bool:
        return all(has_torch(r) for _, r in self.terms)

    def __call__(self, trajectory: np.ndarray) -> float:
        return float(sum(w * r(trajectory) for w, r in self.terms))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        missing = [type(r).__name__ for _, r in self.terms if not has_torch(r)]
        if missing:
            raise TypeError(f"Composite.torch_reward needs every term to be differentiable; {missing} are not.")
        return sum(w * r.torch_reward(x) for w, r in self.terms)


# ------------------------------------------------------------------ preference reward
def resample_positions(p: torch.Tensor, length: int) -> torch.Tensor:
    """Linear resampling of ``[..., T, 2]`` position sequences to ``[..., length, 2]`` (differentiable)."""
    t = p.shape[-2]
    if t == 1:
        return p.expand(*p.shape[:-2], length, p.shape[-1])
    s = torch.linspace(0, t - 1, length, dtype=p.dtype, device=p.device)
    lo = s.floor().long().clamp(max=t - 2)
    w = (s - lo.to(p.dtype))[:, None]
    return p[..., lo, :] * (1 - w) + p[..., lo + 1, :] * w


class PreferenceReward(nn.Module):
    """A small MLP ``R(tau)`` on the position sequence resampled to ``points`` steps, fitted
    from preference pairs with the Bradley-Terry loss (module doc)."""

    def __init__(self, points: int = 16, hidden: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.points = int(points)
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(2 * self.points, hidden), nn.Mish(), nn.Linear(hidden, hidden), nn.Mish(),
                                 nn.Linear(hidden, 1))
        with torch.no_grad():
            for param in self.net.parameters():
                param.copy_(torch.randn(param.shape, generator=gen) * (1.0 / math.sqrt(max(param.shape[-1], 1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, H, D] -> [B]``."""
        return self.net(resample_positions(batch_positions(x), self.points).flatten(1)).squeeze(-1)

    torch_reward = forward

    def __call__(self, trajectory: Any) -> Any:  # numpy [T, D] -> float; tensors go to forward
        if isinstance(trajectory, torch.Tensor):
            return super().__call__(trajectory)
        x = torch.as_tensor(trajectory_positions(trajectory), dtype=torch.float32)[None]
        with torch.no_grad():
            return float(self.forward(x)[0])

    def fit(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], epochs: int = 200, lr: float = 1e-2, seed: int = 0) -> list[float]:
        """Fit on pairs ``(better, worse)``; returns the loss per epoch (full batch)."""
        if not pairs:
            raise ValueError("PreferenceReward.fit needs at least one (better, worse) pair.")

        def stack(items):
            return torch.stack([resample_positions(torch.as_tensor(trajectory_positions(t), dtype=torch.float32), self.points)
                                for t in items])

        good, bad = stack([a for a, _ in pairs]), stack([b for _, b in pairs])
        torch.manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        losses = []
        self.train()
        for _ in range(epochs):
            diff = self.net(good.flatten(1)).squeeze(-1) - self.net(bad.flatten(1)).squeeze(-1)
            loss = nn.functional.softplus(-diff).mean()  # -log sigmoid(R(a) - R(b))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        self.eval()
        return losses


# ------------------------------------------------------------------ adapters and names
def planner_guide(reward: Any, normalizer: Any, action_dim: int):
    """A :class:`~adiff_env.diffusion.RewardGuide` on a planner's normalized plans
    ``[B, H, A + O]``: unnormalize (differentiably), drop the actions, score the states."""
    from adiff_env.diffusion import RewardGuide

    if not has_torch(reward):
        raise TypeError(f"{type(reward).__name__} has no differentiable torch_reward; it cannot guide sampling.")

    def fn(x: torch.Tensor) -> torch.Tensor:
        return reward.torch_reward(normalizer.unnormalize(x)[..., action_dim:])

    return RewardGuide(fn)


RewardFactory = Callable[..., Any]


def reward_factories(builtin: Mapping[str, RewardFactory] | None = None) -> dict[str, RewardFactory]:
    """``builtin`` (a domain's factories) plus those of the entry-point group ``adiff_env.rewards``
    (a built-in name wins over a plugin of the same name)."""
    from importlib.metadata import entry_points

    out = dict(builtin or {})
    for ep in entry_points(group="adiff_env.rewards"):
        out.setdefault(ep.name, ep.load())
    return out


def build_reward(factories: Mapping[str, RewardFactory], name: str, env: Any, **kwargs: Any) -> Any:
    """``factories[name](env, **kwargs)``; an unknown name raises :class:`UnknownNameError` listing them."""
    if name not in factories:
        raise UnknownNameError("reward", name, factories)
    return factories[name](env, **kwargs)
