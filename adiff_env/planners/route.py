"""Reward guidance's per-episode memory and its route hints, for the trajectory planner.

At every env step of a guided planner (``act.reward``), :func:`refresh_reward` marks the points
of the current :class:`~adiff_env.planners.task.RouteHints` the agent has come within the task's
``goal_tolerance`` of (coins taken, waypoints passed); when a replan is due it rebuilds the
reward from the env's current state, with those points passed
(:class:`~adiff_env.planners.reward_spec.PlanReward`), and its hints less those points. The
planner's subgoal then follows the task's ``routed_subgoal`` on those hints (the planner core
never looks inside them; the domain's task does). Domain-agnostic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adiff_env.planners.task import route_hints


def refresh_reward(planner: Any, st: Any, s: np.ndarray) -> None:
    """Update ``st`` (a :class:`~adiff_env.planners.trajectory.PlanState`) at state ``s [O]``:
    mark reached hint points; rebuild ``st.reward`` / ``st.hints`` when a replan is due."""
    task = planner.task
    pos = np.asarray(s, dtype=np.float64)[list(task.goal_dims)]
    if st.hints:
        for point in st.hints.visit + st.hints.via:
            p = np.asarray(point, dtype=np.float64)
            if np.linalg.norm(pos - p) <= task.goal_tolerance and not any(np.allclose(p, q) for q in st.reached):
                st.reached.append(p)
    if st.reward is None or planner._replan_due(st):
        reached = np.array(st.reached, dtype=np.float64).reshape(len(st.reached), len(task.goal_dims))
        st.reward = planner.reward_source(reached=reached)
        st.hints = route_hints(st.reward).without(reached, task.goal_tolerance)
