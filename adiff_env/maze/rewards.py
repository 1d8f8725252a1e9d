"""The maze's task rewards for self-evolution (guidance, ranking and the buffer's quality).

A reward scores a trajectory of states ``[T, D]`` whose first two columns are the ``(x, y)``
position (PointMaze observations ``[x, y, vx, vy]``); each has the numpy form
``__call__(trajectory [T, D]) -> float`` and the differentiable ``torch_reward(x [B, H, D]) ->
[B]`` of :class:`~adiff_env.evolve.rewards.RewardFn` (``p_t`` = position at step ``t``):

- :class:`GoalReward`: share of steps with ``||p_t - g|| <= radius`` (the env's per-step reward);
  torch: ``-mean_t ||p_t - g||``.
- :class:`PathLengthReward`: ``-sum_t ||p_{t+1} - p_t||`` (both forms).
- :class:`TimeToGoalReward`: ``-(first t with ||p_t - g|| <= radius) / T`` (``-1`` if never);
  torch: ``-mean_t sigmoid((||p_t - g|| - radius) / tau)`` (the soft share of steps not there yet).
- :class:`HurryReward` (``hurry``): the same toward the plan's own last point (its goal or
  subgoal), torch ``-mean_t ||p_t - p_{H-1}||``.
- :class:`CoinReward`: number of uncollected coins passed within ``radius`` (by name,
  ``coins``: the coins the env has not collected yet at build time); torch:
  ``-sum_k softmin_t ||p_t - c_k||`` (distance to each uncollected coin).
- :class:`FreeCellReward`: ``-`` share of steps inside wall cells; torch: ``-sum_t
  sum_w relu(margin - sd_w(p_t))^2`` with ``sd_w`` the signed distance to wall box ``w``
  (:func:`box_penalty`).
- ``avoid[CELLS]`` and ``waypoint[CELLS]`` (rewards with an argument, a forbidden zone and
  waypoints to pass): :mod:`adiff_env.maze.zones`.

Rewards that ask something of the route (coins to collect, waypoints, a zone) also offer
``route_hints() -> RouteHints`` (:mod:`adiff_env.planners.task`), so the planner's subgoals can
follow a route through them (:meth:`~adiff_env.maze.task.MazePlanningTask.routed_subgoal`).

:func:`make_reward` builds one by name (:data:`REWARD_NAMES`, plus plugins of the entry-point
group ``adiff_env.rewards``); :func:`task_reward` is the weighted sum of named rewards for an env
(a :class:`~adiff_env.evolve.rewards.Composite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from adiff_env.evolve.rewards import (
    Composite,
    RewardFactory,
    batch_positions,
    build_reward,
    reward_factories,
    trajectory_positions,
)
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.penalty import box_penalty
from adiff_env.planners.task import RouteHints


class GoalReward:
    """Share of steps within ``radius`` of ``goal`` ``[2]`` (see module doc)."""

    def __init__(self, goal: Sequence[float] | np.ndarray, radius: float = 0.5) -> None:
        self.goal = np.asarray(goal, dtype=np.float64).reshape(2)
        self.radius = float(radius)

    def __call__(self, trajectory: np.ndarray) -> float:
        d = np.linalg.norm(trajectory_positions(trajectory) - self.goal, axis=1)
        return float(np.mean(d <= self.radius))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = batch_positions(x)
        return -(p - torch.as_tensor(self.goal, dtype=x.dtype, device=x.device)).norm(dim=-1).mean(dim=1)


class PathLengthReward:
    """Minus the path length ``sum_t ||p_{t+1} - p_t||``: shorter paths score higher."""

    def __call__(self, trajectory: np.ndarray) -> float:
        p = trajectory_positions(trajectory)
        return -float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = batch_positions(x)
        step = p[:, 1:] - p[:, :-1]
        return -(step.square().sum(-1) + 1e-8).sqrt().sum(dim=1)


class TimeToGoalReward:
    """Minus the fraction of the trajectory spent before first reaching the goal (see module doc)."""

    def __init__(self, goal: Sequence[float] | np.ndarray, radius: float = 0.5, tau: float = 0.1) -> None:
        self.goal = np.asarray(goal, dtype=np.float64).reshape(2)
        self.radius, self.tau = float(radius), float(tau)

    def __call__(self, trajectory: np.ndarray) -> float:
        d = np.linalg.norm(trajectory_positions(trajectory) - self.goal, axis=1)
        hits = np.flatnonzero(d <= self.radius)
        return -1.0 if len(hits) == 0 else -float(hits[0]) / len(d)

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = batch_positions(x)
        d = (p - torch.as_tensor(self.goal, dtype=x.dtype, device=x.device)).norm(dim=-1)
        return -torch.sigmoid((d - self.radius) / self.tau).mean(dim=1)


class HurryReward:
    """Time to the plan's own end point (``hurry``): ``-(first t with ||p_t - p_{T-1}|| <= radius) / T``;
    torch: ``-mean_t ||p_t - p_{H-1}||`` (maze units).

    A planner's plan rests at its goal (a subgoal, with ``subgoal_cells``) from the deadline
    index on, so its last row is the point the plan goes to, whichever it is; pulling every
    planned position toward it straightens and speeds the plan where the deadline alone does
    not (the pinned rows fix *when* the goal is reached, not the path before it). Pair it with
    ``free-cells`` so the pull does not cut through walls."""

    def __init__(self, radius: float = 0.5) -> None:
        if not radius > 0:
            raise ValueError(f"hurry: radius must be > 0, got {radius!r}.")
        self.radius = float(radius)

    def __call__(self, trajectory: np.ndarray) -> float:
        p = trajectory_positions(trajectory)
        hits = np.flatnonzero(np.linalg.norm(p - p[-1], axis=1) <= self.radius)
        return -float(hits[0]) / len(p)

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = batch_positions(x)
        return -((p - p[:, -1:].detach()).square().sum(-1) + 1e-8).sqrt().mean(dim=1)


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
        p = trajectory_positions(trajectory)
        d = np.linalg.norm(p[:, None, :] - self.coins[None], axis=-1)  # [T, K]
        return float(np.sum((d.min(axis=0) <= self.radius) & self.open))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = batch_positions(x)
        coins = torch.as_tensor(self.coins[self.open], dtype=x.dtype, device=x.device)
        if coins.shape[0] == 0:
            return 0.0 * p.sum(dim=(1, 2))  # nothing left to pass: zero, still differentiable (guidance backprops)
        d = (p[:, :, None, :] - coins[None, None]).norm(dim=-1)  # [B, H, K]
        soft_min = -self.temperature * torch.logsumexp(-d / self.temperature, dim=1)  # [B, K]
        return -soft_min.sum(dim=1)

    def route_hints(self) -> RouteHints:
        """The uncollected coins, to pass in any order."""
        return RouteHints(visit=tuple(tuple(float(v) for v in c) for c in self.coins[self.open]))


class FreeCellReward:
    """Stay inside free cells: ``-`` share of steps in wall cells (torch: squared penetration)."""

    def __init__(self, maze: Any, margin: float = 0.1) -> None:
        self.geometry = maze if isinstance(maze, MazeGeometry) else MazeGeometry.from_maze(maze)
        self.margin = float(margin)

    def __call__(self, trajectory: np.ndarray) -> float:
        return -float(np.mean(self.geometry.in_wall(trajectory_positions(trajectory))))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        return -box_penalty(batch_positions(x), self.geometry.wall_boxes(), self.margin)


def _unwrapped(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _goal(env: Any, goal: Any = None) -> np.ndarray:
    return np.asarray(goal if goal is not None else _unwrapped(env).goal, dtype=np.float64)


def _collected(env: Any, collected: Any = None) -> Any:
    """``collected``, else the env's current ``coins_collected`` (a copy; None without coins)."""
    if collected is not None:
        return collected
    taken = getattr(_unwrapped(env), "coins_collected", None)
    return None if taken is None else np.array(taken, copy=True)


MAZE_REWARDS: dict[str, RewardFactory] = {
    "goal": lambda env, goal=None, radius=0.5: GoalReward(_goal(env, goal), radius),
    "time-to-goal": lambda env, goal=None, radius=0.5: TimeToGoalReward(_goal(env, goal), radius),
    "path-length": lambda env: PathLengthReward(),
    "hurry": lambda env, radius=0.5: HurryReward(radius),
    "coins": lambda env, collected=None: CoinReward(_unwrapped(env).coin_positions, collected=_collected(env, collected)),
    "free-cells": lambda env, margin=0.1: FreeCellReward(_unwrapped(env).geometry, margin),
}


def _zone_rewards() -> dict[str, RewardFactory]:
    from adiff_env.maze.zones import ZONE_REWARDS  # zones imports this module

    return ZONE_REWARDS
REWARD_NAMES = tuple(sorted(MAZE_REWARDS))  # the rewards that need no argument (zones.py has those that do)


def maze_reward_factories() -> dict[str, RewardFactory]:
    """The maze's rewards plus those of the entry-point group ``adiff_env.rewards``."""
    return reward_factories({**MAZE_REWARDS, **_zone_rewards()})


def make_reward(name: str, env: Any, **kwargs: Any) -> Any:
    """Build the reward ``name`` for ``env`` (e.g. ``make_reward("goal", env)``)."""
    return build_reward(maze_reward_factories(), name, env, **kwargs)


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
