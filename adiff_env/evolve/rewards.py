"""Trajectory rewards for self-evolution: task rewards, composites, a learned preference reward.

A reward scores a trajectory of states ``[T, D]`` whose first two columns are the ``(x, y)``
position (PointMaze observations ``[x, y, vx, vy]``). Every :class:`RewardFn` has

- ``__call__(trajectory: np.ndarray [T, D]) -> float`` — the score used by the buffer and filter;
- optionally ``torch_reward(x: Tensor [B, H, D]) -> Tensor [B]`` — a differentiable surrogate
  used for reward-gradient guidance (:func:`planner_guide` adapts it to a planner's normalized
  ``[B, H, A + O]`` plans and wraps it in :class:`adiff_env.diffusion.RewardGuide`).

Rewards (``p_t`` = position at step ``t``):

- :class:`GoalReward`: share of steps with ``||p_t - g|| <= radius`` (the env's per-step reward);
  torch: ``-mean_t ||p_t - g||``.
- :class:`PathLengthReward`: ``-sum_t ||p_{t+1} - p_t||`` (both forms).
- :class:`TimeToGoalReward`: ``-(first t with ||p_t - g|| <= radius) / T`` (``-1`` if never);
  torch: ``-mean_t sigmoid((||p_t - g|| - radius) / tau)`` (the soft share of steps not there yet).
- :class:`CoinReward`: number of uncollected coins passed within ``radius``; torch:
  ``-sum_k softmin_t ||p_t - c_k||`` (distance to each uncollected coin).
- :class:`FreeCellReward`: ``-`` share of steps inside wall cells; torch: ``-sum_t
  sum_w relu(margin - sd_w(p_t))^2`` with ``sd_w`` the signed distance to wall box ``w``.
- :class:`Composite`: ``sum_i w_i R_i`` (torch form only if every term has one).
- :class:`PreferenceReward`: an MLP on the resampled position sequence, fitted from pairs "a
  better than b" with the Bradley-Terry loss ``-log sigmoid(R(a) - R(b))``.

:func:`make_reward` builds a reward by name (``REWARD_NAMES``; plugins add names through the
entry-point group ``adiff_env.rewards``: a callable ``factory(env, **kwargs) -> RewardFn``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


def _positions(trajectory: np.ndarray) -> np.ndarray:
    arr = np.asarray(trajectory, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] < 1:
        raise ValueError(f"a trajectory must have shape [T, D] with T >= 1 and D >= 2 (x, y first), got {arr.shape}.")
    return arr[:, :2]


def _check_batch(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 3 or x.shape[-1] < 2:
        raise ValueError(f"torch_reward expects [B, H, D] with D >= 2 (x, y first), got {tuple(x.shape)}.")
    return x[..., :2]


class GoalReward:
    """Share of steps within ``radius`` of ``goal`` ``[2]`` (see module doc)."""

    def __init__(self, goal: Sequence[float], radius: float = 0.5) -> None:
        self.goal = np.asarray(goal, dtype=np.float64).reshape(2)
        self.radius = float(radius)

    def __call__(self, trajectory: np.ndarray) -> float:
        d = np.linalg.norm(_positions(trajectory) - self.goal, axis=1)
        return float(np.mean(d <= self.radius))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = _check_batch(x)
        return -(p - torch.as_tensor(self.goal, dtype=x.dtype, device=x.device)).norm(dim=-1).mean(dim=1)


class PathLengthReward:
    """Minus the path length ``sum_t ||p_{t+1} - p_t||``: shorter paths score higher."""

    def __call__(self, trajectory: np.ndarray) -> float:
        p = _positions(trajectory)
        return -float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = _check_batch(x)
        step = p[:, 1:] - p[:, :-1]
        return -(step.square().sum(-1) + 1e-8).sqrt().sum(dim=1)


class TimeToGoalReward:
    """Minus the fraction of the trajectory spent before first reaching the goal (see module doc)."""

    def __init__(self, goal: Sequence[float], radius: float = 0.5, tau: float = 0.1) -> None:
        self.goal = np.asarray(goal, dtype=np.float64).reshape(2)
        self.radius, self.tau = float(radius), float(tau)

    def __call__(self, trajectory: np.ndarray) -> float:
        d = np.linalg.norm(_positions(trajectory) - self.goal, axis=1)
        hits = np.flatnonzero(d <= self.radius)
        return -1.0 if len(hits) == 0 else -float(hits[0]) / len(d)

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = _check_batch(x)
        d = (p - torch.as_tensor(self.goal, dtype=x.dtype, device=x.device)).norm(dim=-1)
        return -torch.sigmoid((d - self.radius) / self.tau).mean(dim=1)


class CoinReward:
    """Gold coins: count of uncollected coins ``[K, 2]`` passed within ``radius``.

    ``collected`` ``[K]`` (0/1) marks coins already taken; they score nothing. ``temperature``
    sets the softmin over time of the torch form."""

    def __init__(self, coins: np.ndarray, radius: float = 0.5, collected: Sequence[int] | None = None,
                 temperature: float = 0.1) -> None:
        self.coins = np.asarray(coins, dtype=np.float64).reshape(-1, 2)
        mask = np.zeros(len(self.coins)) if collected is None else np.asarray(collected, dtype=np.float64).reshape(-1)
        if mask.shape != (len(self.coins),):
            raise ValueError(f"collected must have one entry per coin ({len(self.coins)}), got shape {mask.shape}.")
        self.open = mask == 0
        self.radius, self.temperature = float(radius), float(temperature)

    def __call__(self, trajectory: np.ndarray) -> float:
        p = _positions(trajectory)
        d = np.linalg.norm(p[:, None, :] - self.coins[None], axis=-1)  # [T, K]
        return float(np.sum((d.min(axis=0) <= self.radius) & self.open))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = _check_batch(x)
        coins = torch.as_tensor(self.coins[self.open], dtype=x.dtype, device=x.device)
        if coins.shape[0] == 0:
            return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        d = (p[:, :, None, :] - coins[None, None]).norm(dim=-1)  # [B, H, K]
        soft_min = -self.temperature * torch.logsumexp(-d / self.temperature, dim=1)  # [B, K]
        return -soft_min.sum(dim=1)


class MazeGeometry:
    """Cells of a gymnasium-robotics maze as axis-aligned boxes in world coordinates."""

    def __init__(self, maze: Any) -> None:
        grid = np.asarray([[1 if v == 1 else 0 for v in row] for row in maze.maze_map], dtype=np.int64)
        self.walls = grid == 1
        self.scale = float(maze.maze_size_scaling)
        self.x0, self.y0 = float(maze.x_map_center), float(maze.y_map_center)
        rows, cols = np.nonzero(self.walls)
        lo_x, hi_y = cols * self.scale - self.x0, self.y0 - rows * self.scale
        self.boxes = np.stack([lo_x, hi_y - self.scale, lo_x + self.scale, hi_y], axis=1)  # [W, 4]

    def cell_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column ``[N]`` of the cells holding points ``xy [N, 2]``."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return (np.floor((self.y0 - xy[:, 1]) / self.scale).astype(int),
                np.floor((xy[:, 0] + self.x0) / self.scale).astype(int))

    def in_wall(self, xy: np.ndarray) -> np.ndarray:
        """Bool ``[N]``: the point lies in a wall cell (outside the grid counts as wall)."""
        r, c = self.cell_of(xy)
        inside = (r >= 0) & (r < self.walls.shape[0]) & (c >= 0) & (c < self.walls.shape[1])
        out = np.ones(len(r), dtype=bool)
        out[inside] = self.walls[r[inside], c[inside]]
        return out


class FreeCellReward:
    """Stay inside free cells: ``-`` share of steps in wall cells (torch: squared penetration)."""

    def __init__(self, maze: Any, margin: float = 0.1) -> None:
        self.geometry = maze if isinstance(maze, MazeGeometry) else MazeGeometry(maze)
        self.margin = float(margin)

    def __call__(self, trajectory: np.ndarray) -> float:
        return -float(np.mean(self.geometry.in_wall(_positions(trajectory))))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = _check_batch(x)
        boxes = torch.as_tensor(self.geometry.boxes, dtype=x.dtype, device=x.device)  # [W, 4]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        half = (boxes[:, 2:] - boxes[:, :2]) / 2
        q = (p[:, :, None, :] - centre).abs() - half  # [B, H, W, 2]
        outside = q.clamp_min(0).norm(dim=-1)
        inside = q.max(dim=-1).values.clamp_max(0)
        sd = outside + inside  # signed distance to each wall box, > 0 outside
        return -torch.relu(self.margin - sd).square().sum(dim=(1, 2))


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
        return self.net(resample_positions(_check_batch(x), self.points).flatten(1)).squeeze(-1)

    torch_reward = forward

    def __call__(self, trajectory: Any) -> Any:  # numpy [T, D] -> float; tensors go to forward
        if isinstance(trajectory, torch.Tensor):
            return super().__call__(trajectory)
        x = torch.as_tensor(_positions(trajectory), dtype=torch.float32)[None]
        with torch.no_grad():
            return float(self.forward(x)[0])

    def fit(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], epochs: int = 200, lr: float = 1e-2, seed: int = 0) -> list[float]:
        """Fit on pairs ``(better, worse)``; returns the loss per epoch (full batch)."""
        if not pairs:
            raise ValueError("PreferenceReward.fit needs at least one (better, worse) pair.")

        def stack(items):
            return torch.stack([resample_positions(torch.as_tensor(_positions(t), dtype=torch.float32), self.points)
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


def _unwrapped(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _goal(env: Any, goal: Any = None) -> np.ndarray:
    return np.asarray(goal if goal is not None else _unwrapped(env).goal, dtype=np.float64)


RewardFactory = Callable[..., Any]
_BUILTIN: dict[str, RewardFactory] = {
    "goal": lambda env, goal=None, radius=0.5: GoalReward(_goal(env, goal), radius),
    "time-to-goal": lambda env, goal=None, radius=0.5: TimeToGoalReward(_goal(env, goal), radius),
    "path-length": lambda env: PathLengthReward(),
    "coins": lambda env, collected=None: CoinReward(_unwrapped(env).coin_positions, collected=collected),
    "free-cells": lambda env, margin=0.1: FreeCellReward(_unwrapped(env).maze, margin),
}
REWARD_NAMES = tuple(sorted(_BUILTIN))


def reward_factories() -> dict[str, RewardFactory]:
    """Built-in reward factories plus those of the entry-point group ``adiff_env.rewards``."""
    from importlib.metadata import entry_points

    out = dict(_BUILTIN)
    for ep in entry_points(group="adiff_env.rewards"):
        out.setdefault(ep.name, ep.load())
    return out


def make_reward(name: str, env: Any, **kwargs: Any) -> Any:
    """Build the reward ``name`` for ``env`` (e.g. ``make_reward("goal", env)``)."""
    factories = reward_factories()
    if name not in factories:
        raise UnknownNameError("reward", name, factories)
    return factories[name](env, **kwargs)


def task_reward(env: Any, weights: dict[str, float], goal: Any = None, collected: Any = None) -> Composite:
    """The weighted sum of named rewards for ``env`` (``goal`` overrides the env's goal for the
    goal-dependent terms; ``collected`` marks coins already taken, which ``coins`` no longer
    pays for; ``coins`` is skipped on envs without coins)."""
    terms = []
    for name, weight in weights.items():
        if weight == 0 or (name == "coins" and not len(getattr(_unwrapped(env), "coin_cells", ()))):
            continue
        kwargs = {"goal": goal} if name in ("goal", "time-to-goal") else {}
        if name == "coins" and collected is not None:
            kwargs = {"collected": collected}
        terms.append((weight, make_reward(name, env, **kwargs)))
    return Composite(terms)
