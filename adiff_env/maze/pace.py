"""Arrival times, and the "faster than a reference" test of self-evolution's generation.

AdaptDiffuser keeps the generated trajectories that are better than the data by the task's
own measure. On a plain PointMaze the measure is time: the env pays one point for each step
the ball spends within ``GOAL_RADIUS`` of the goal, so an episode's return is set by the step
at which the ball first arrives. :class:`ReferencePace` runs a reference agent (e.g. the
tuned expert, ``expert-tuned``) on exactly the reset a generated rollout had (same reset seed,
same start and goal cells, hence the same start noise) and records its arrival step; the
generation (:func:`adiff_env.maze.generate.generate`, ``faster_than=...``) keeps a rollout
only if it arrives no later than the reference minus ``margin`` steps. The buffer then holds
only the planner's own MuJoCo rollouts that beat the reference on their start/goal pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GOAL_RADIUS = 0.5  # the PointMaze goal reward's radius (the env pays a step within it)


def arrival_step(achieved: np.ndarray, goal: np.ndarray, radius: float = GOAL_RADIUS) -> int | None:
    """The first index ``t`` of ``achieved`` ``[T, 2]`` with ``||achieved[t] - goal|| <= radius``
    (row 0 is the reset observation, row ``t`` the observation after ``t`` steps); ``None`` if
    it never arrives."""
    achieved = np.asarray(achieved, dtype=np.float64)
    if achieved.ndim != 2 or achieved.shape[1] != np.asarray(goal).shape[-1]:
        raise ValueError(f"achieved must be [T, {np.asarray(goal).shape[-1]}], got shape {achieved.shape}.")
    hit = np.flatnonzero(np.linalg.norm(achieved - np.asarray(goal, dtype=np.float64), axis=1) <= radius)
    return int(hit[0]) if len(hit) else None


class ReferencePace:
    """The arrival step of reference agent ``spec`` (any agent kind, e.g. ``expert-tuned``) on
    a given reset of ``env``, at most ``max_steps`` steps (``None`` when it does not arrive).

    :meth:`arrival` resets ``env`` itself: the caller resets it again (same seed and options)
    before its own episode. ``margin``: :meth:`beats` wants the candidate to arrive at least
    this many steps before the reference (0: a tie is kept)."""

    def __init__(self, spec: str, env: Any, margin: int = 0, max_steps: int = 1000) -> None:
        from adiff_env.agents import make_agent

        if margin < 0:
            raise ValueError(f"margin must be >= 0 steps, got {margin}.")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}.")
        self.spec, self.env, self.margin, self.max_steps = spec, env, int(margin), int(max_steps)
        self.agent = make_agent(spec, env)

    def arrival(self, seed: int, options: dict[str, Any] | None = None) -> int | None:
        """Reset ``env`` with ``seed``/``options`` and let the reference act until it arrives."""
        obs, _ = self.env.reset(seed=seed, options=options)
        goal = np.asarray(obs["desired_goal"], dtype=np.float64)
        if np.linalg.norm(np.asarray(obs["achieved_goal"]) - goal) <= GOAL_RADIUS:
            return 0
        state, start = None, True
        for t in range(1, self.max_steps + 1):
            action, state = self.agent.predict(obs, state=state, episode_start=start, deterministic=True)
            start = False
            obs, _, terminated, truncated, _ = self.env.step(action)
            if np.linalg.norm(np.asarray(obs["achieved_goal"]) - goal) <= GOAL_RADIUS:
                return t
            if terminated or truncated:
                break
        return None

    def beats(self, steps: int | None, reference: int | None) -> bool:
        """Whether a candidate arriving at ``steps`` is kept against the reference's ``reference``
        (a candidate that never arrives never is; a reference that never arrives is beaten by
        any arrival)."""
        if steps is None:
            return False
        return reference is None or steps <= reference - self.margin
