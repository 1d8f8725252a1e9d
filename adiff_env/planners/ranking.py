"""Ranking of a plan's ``n_samples`` candidates by time to the goal (``act.rank = "progress"``).

Every candidate of one plan has the same conditioning (start state, goal pinned from the
deadline index on), so the deadline says *when* a candidate must arrive, not how fast it goes
before the next replan. The env executes only the first ``act.replan_every`` steps of the kept
plan, so the ranking that shortens the time to the goal is the one that keeps the candidate
whose planned state after those steps is nearest the goal along the task's route:

    key(plan) = ( fewest infeasible planned states (the task's ``violations``; a maze: positions in walls),
                  smallest route length (``task.path_length``; Euclidean on the goal dims without a route)
                      from the planned state at index ``m = min(replan_every, H - 1)`` to the goal,
                  smoothest )

lexicographic, the first key primary. A candidate therefore never wins by cutting through a wall.
This module knows no domain: the route length and the feasibility test come from the
:class:`~adiff_env.planners.task.PlanningTask`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def progress_rank(planner: Any, goals: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ranking of candidates ``x [N k, H, D]`` (normalized; rows ``[i k, (i + 1) k)`` are
    the candidates of the plan toward ``goals[i]``, ``goals [N, G]``, ``k = act.n_samples``) by
    the module doc's key. Returns each row's place within its plan ``[N k]`` (higher is better,
    ``k - 1`` the best)."""
    goals = np.asarray(goals, dtype=np.float64).reshape(-1, len(planner.task.goal_dims))
    k = planner.act.n_samples

    def rank(x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != k * len(goals):
            raise ValueError(f"progress ranking expects {len(goals)} plans x {k} candidates = {k * len(goals)} rows, "
                             f"got {x.shape[0]}.")
        states = planner.normalizer.unnormalize(x.detach().cpu().numpy().astype(np.float64))[..., planner.action_dim:]
        smooth = planner._smoothness(x).detach().cpu().numpy()
        bad = planner.task.violations(states)
        bad = np.zeros(len(states)) if bad is None else np.asarray(bad, dtype=np.float64)
        m = min(planner.act.replan_every, planner.horizon - 1)
        left = np.array([route_left(planner.task, states[r, m], goals[r // k]) for r in range(len(states))])
        place = np.empty(len(states))
        for i in range(len(goals)):
            rows = slice(i * k, (i + 1) * k)
            order = np.lexsort((smooth[rows], -left[rows], -bad[rows]))  # the last key is the primary one
            place[i * k + order] = np.arange(k)
        return torch.as_tensor(place, dtype=x.dtype, device=x.device)

    return rank


def route_left(task: Any, state: np.ndarray, goal: np.ndarray) -> float:
    """Route length from planned state ``state [O]`` to ``goal [G]`` (``task.path_length``), or
    the Euclidean distance on the task's goal dims where the task has no route."""
    length = task.path_length(state, goal)
    if length is None:
        return float(np.linalg.norm(state[list(task.goal_dims)] - goal))
    return float(length)


def arrival_rank(planner: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ranking of candidates ``x [N k, H, D]`` (normalized) by ``act.rank = "arrival"``:
    the smallest largest one-step move of the task's goal dims in the plan (metres on Fetch:
    the block), ties broken by smoothness. The goal is pinned from the goal index on, so a
    candidate whose free rows leave the block short of the goal or beside the push line must
    make it jump onto the goal there; the jump is the plan's own predicted final block-goal
    gap, and the candidate that really pushes the block all the way has the smallest.
    Returns a reward per row ``[N k]`` (higher is better)."""
    dims = list(planner.task.goal_dims)

    def rank(x: torch.Tensor) -> torch.Tensor:
        states = planner.normalizer.unnormalize(x.detach().cpu().numpy().astype(np.float64))[..., planner.action_dim:]
        jump = np.linalg.norm(np.diff(states[..., dims], axis=1), axis=-1).max(axis=1)
        smooth = planner._smoothness(x).detach()
        return -torch.as_tensor(jump, dtype=smooth.dtype, device=smooth.device) * 1e6 + smooth

    return rank


def candidate_rank(planner: Any, goals: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    """The unguided ranking of ``act.n_samples`` candidates per plan toward ``goals [N, G]``:
    :func:`progress_rank` with ``act.rank = "progress"``, :func:`arrival_rank` with
    ``"arrival"``, else the planner's own (``free-cells`` / ``smoothness``, which need no goal)."""
    if planner.act.rank == "progress":
        return progress_rank(planner, goals)
    if planner.act.rank == "arrival":
        return arrival_rank(planner)
    return planner._rank_reward
