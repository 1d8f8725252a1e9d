"""Small parts of the trajectory planner that training, distillation and acting share: the
inverse-dynamics head, the denoiser's global condition, and the per-episode acting memory.

They live apart from :mod:`adiff_env.planners.trajectory` so that training code can build a
model's inputs without the acting loop, and so the agent's module stays readable.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn


class InverseDynamics(nn.Module):
    """MLP ``a_t = f(s_t, s_{t+1})`` on normalized states/actions: ``[B, 2 O] -> [B, A]``."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.obs_dim, self.action_dim, self.hidden = obs_dim, action_dim, hidden
        self.net = nn.Sequential(
            nn.Linear(2 * obs_dim, hidden), nn.Mish(), nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, action_dim),
        )

    def forward(self, s: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([s, s_next], dim=-1))


def global_condition(start: torch.Tensor, goal: torch.Tensor, goal_index: torch.Tensor, horizon: int) -> torch.Tensor:
    """The denoiser's global condition ``[B, O + G + 1]``: normalized start state ``[B, O]``,
    normalized goal ``[B, G]`` (the task's goal dims; a maze: the position, G = 2) and the goal
    index as a fraction ``j / H`` ``[B]``."""
    frac = goal_index.to(start.dtype).view(-1, 1) / horizon
    return torch.cat([start, goal, frac], dim=-1)


@dataclasses.dataclass
class PlanState:
    """What the planner remembers between steps of one episode."""

    t: int = 0  # env steps since the episode started
    plan: np.ndarray | None = None  # [H, A + O] unnormalized
    plan_t: int = 0  # env step at which ``plan`` was made
    goal: np.ndarray | None = None  # what the plan is conditioned on (the goal, or a subgoal)
    deadline_t: int | None = None  # env step by which the plan reaches the goal
    final_goal: np.ndarray | None = None  # the env's goal (differs from ``goal`` with subgoals)
    reward: Any = None  # reward guidance: the reward built at the last replan
    hints: Any = None  # its RouteHints, less the points passed
    reached: list[np.ndarray] = dataclasses.field(default_factory=list)  # hint points passed this episode
    skipped: list[np.ndarray] = dataclasses.field(default_factory=list)  # points left out: no time (act.route_pace)
