"""Trajectory rewards of the Fetch tasks, for planners that are guided by a task reward.

A trajectory is a sequence of Fetch observations ``[T, D]`` (``D >= 6``) whose columns
``3:6`` are the block position (Fetch's ``observation`` vector; the first three are the
gripper). :class:`FetchTaskReward` is the env's per-step reward averaged over the steps:

    R(traj) = mean_t [ -1(||b_t - g|| > threshold) - zone_cost * 1(||b_t[:2] - c|| < radius) ]

with ``b_t`` the block position, ``g`` the goal and ``(c, radius)`` the forbidden zone (none:
no zone term). Its differentiable surrogate ``torch_reward(x [B, H, D]) -> [B]`` is
``-mean_t ||b_t - g|| - zone_cost * mean_t sigmoid((radius - ||b_t[:2] - c||) / tau)``.
torch is imported only by ``torch_reward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BLOCK = slice(3, 6)
"""Columns of the block position in a Fetch observation vector."""


class FetchTaskReward:
    """Goal term plus forbidden-zone cost (module doc).

    Args:
        goal: ``[3]`` goal position of the block.
        zone: ``[3]`` = ``[x, y, radius]`` of the forbidden disc, or None.
        zone_cost: cost per step inside the disc (default 1.0).
        threshold: success distance (default 0.05, Fetch's).
        tau: temperature of the soft zone indicator in ``torch_reward`` (default 0.01 m).
    """

    def __init__(self, goal: Sequence[float], zone: Sequence[float] | None = None, zone_cost: float = 1.0,
                 threshold: float = 0.05, tau: float = 0.01) -> None:
        self.goal = np.asarray(goal, dtype=np.float64).reshape(3)
        self.zone = None if zone is None else np.asarray(zone, dtype=np.float64).reshape(3)
        if self.zone is not None and not self.zone[2] > 0:
            raise ValueError(f"zone radius must be > 0, got {self.zone[2]!r}.")
        self.zone_cost = float(zone_cost)
        self.threshold = float(threshold)
        self.tau = float(tau)

    def __call__(self, trajectory: np.ndarray) -> float:
        arr = np.asarray(trajectory, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 6:
            raise ValueError(f"a Fetch trajectory must have shape [T, D] with T >= 1 and D >= 6, got {arr.shape}.")
        block = arr[:, BLOCK]
        per_step = -(np.linalg.norm(block - self.goal, axis=1) > self.threshold).astype(np.float64)
        if self.zone is not None:
            inside = np.linalg.norm(block[:, :2] - self.zone[:2], axis=1) < self.zone[2]
            per_step -= self.zone_cost * inside
        return float(per_step.mean())

    def torch_reward(self, x: Any) -> Any:
        """Differentiable surrogate ``[B, H, D] -> [B]`` (module doc)."""
        import torch

        if x.ndim != 3 or x.shape[-1] < 6:
            raise ValueError(f"torch_reward expects [B, H, D] with D >= 6, got {tuple(x.shape)}.")
        block = x[..., BLOCK]
        goal = torch.as_tensor(self.goal, dtype=x.dtype, device=x.device)
        out = -torch.linalg.vector_norm(block - goal, dim=-1).mean(dim=-1)
        if self.zone is not None:
            center = torch.as_tensor(self.zone[:2], dtype=x.dtype, device=x.device)
            d = torch.linalg.vector_norm(block[..., :2] - center, dim=-1)
            out = out - self.zone_cost * torch.sigmoid((float(self.zone[2]) - d) / self.tau).mean(dim=-1)
        return out
