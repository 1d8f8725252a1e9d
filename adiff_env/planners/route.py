"""Reward guidance's per-episode memory and its route hints, for the trajectory planner.

At every env step of a guided planner (``act.reward``), :func:`refresh_reward` marks the points
of the current :class:`~adiff_env.planners.task.RouteHints` the agent has come within the task's
``goal_tolerance`` of (coins taken, waypoints passed) and, with ``act.replan_on_reach``, asks
for a replan at once; when a replan is due it rebuilds the reward from the env's current state,
with those points passed (:class:`~adiff_env.planners.reward_spec.PlanReward`), and its hints
less those points. With a time budget (``act.route_pace`` > 0, the env's time limit and a task
with ``route_length``), :func:`fit_route` then leaves out the points to visit that no longer
fit in the steps left, for the rest of the episode. The planner's subgoal then follows the
task's ``routed_subgoal`` on those hints (the planner core never looks inside them; the
domain's task does). Domain-agnostic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adiff_env.planners.task import RouteHints, route_hints


def refresh_reward(planner: Any, st: Any, s: np.ndarray, source: Any = None, goal: Any = None) -> None:
    """Update ``st`` (a :class:`~adiff_env.planners.trajectory.PlanState`) at state ``s [O]``:
    mark reached hint points; rebuild ``st.reward`` / ``st.hints`` when a replan is due, from
    ``source`` (a :class:`~adiff_env.planners.reward_spec.PlanReward`; default the planner's
    ``reward_source``; batched acting passes each env's own). ``goal [G]``: the env's goal,
    for the route budget (None: no budget)."""
    task = planner.task
    source = planner.reward_source if source is None else source
    act = getattr(planner, "act", None)
    pos = np.asarray(s, dtype=np.float64)[list(task.goal_dims)]
    if st.hints:
        for point in st.hints.visit + st.hints.via:
            p = np.asarray(point, dtype=np.float64)
            if np.linalg.norm(pos - p) <= task.goal_tolerance and not any(np.allclose(p, q) for q in st.reached):
                st.reached.append(p)
                if act is None or act.replan_on_reach:
                    st.plan = None  # re-route now: the old plan still brakes onto the point just passed
    if st.reward is None or planner._replan_due(st):
        reached = np.array(st.reached, dtype=np.float64).reshape(len(st.reached), len(task.goal_dims))
        st.reward = source(reached=reached)
        hints = route_hints(st.reward).without(reached, task.goal_tolerance)
        if st.skipped:
            hints = hints.without(np.array(st.skipped), task.goal_tolerance)
        pace = getattr(act, "route_pace", 0.0) if act is not None else 0.0
        limit = time_limit(getattr(planner, "env", None))
        if pace > 0 and limit is not None and goal is not None and hints.visit:
            hints, dropped = fit_route(task, s, np.asarray(goal, dtype=np.float64), hints, (limit - st.t) / pace)
            st.skipped += dropped
        st.hints = hints


def fit_route(task: Any, s: np.ndarray, goal: np.ndarray, hints: RouteHints, budget: float
              ) -> tuple[RouteHints, list[np.ndarray]]:
    """``(hints, dropped)``: while ``task.route_length(s, goal, hints)`` exceeds ``budget``
    (route-length units), drop the ``visit`` point whose removal shortens the route most
    (ties: the later one in ``hints.visit``); ``via`` points and zones are kept. A task
    without ``route_length`` keeps every point."""
    length = getattr(task, "route_length", None)
    if not callable(length):
        return hints, []
    dropped: list[np.ndarray] = []
    while hints.visit and length(s, goal, hints) > budget:
        options = [RouteHints(hints.visit[:i] + hints.visit[i + 1:], hints.via, hints.avoid)
                   for i in range(len(hints.visit))]
        lengths = [length(s, goal, h) for h in options]
        best = min(range(len(options)), key=lambda i: (lengths[i], -i))
        dropped.append(np.asarray(hints.visit[best], dtype=np.float64))
        hints = options[best]
    return hints, dropped


def time_limit(env: Any) -> int | None:
    """The env's step limit (``env.spec.max_episode_steps``), None when it has none."""
    spec = getattr(env, "spec", None)
    limit = getattr(spec, "max_episode_steps", None)
    return int(limit) if limit else None
