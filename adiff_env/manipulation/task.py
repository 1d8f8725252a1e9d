"""The Fetch tasks' :class:`~adiff_env.planners.task.PlanningTask` (``env.unwrapped.planning_task()``).

Fetch's 25-dim observation (gymnasium-robotics ``MujocoFetchEnv._get_obs``)::

    0:3 grip_pos   3:6 object_pos   6:9 object_rel_pos   9:11 gripper_state   11:14 object_rot
    14:17 object_velp   17:20 object_velr   20:23 grip_velp   23:25 gripper_vel

The goal pins the object's position (``3:6``) from the deadline on; nothing else is pinned
(Fetch's ``object_velp`` is relative to the gripper, so a block at rest need not read zero,
and the gripper may move on).
The action is a Cartesian gripper delta plus a finger command, so there is no PD rule in state
space: Fetch planners act by inverse dynamics or the planned action. The route length is the
gripper's way to the block plus the block's way to the goal (straight lines); no subgoals.

Feasibility (:meth:`FetchPlanningTask.violations`, used only with ``act.rank = "free-cells"``
and ``n_samples > 1``): a planned step is infeasible when the block moves more than
``slide_tol`` m while the gripper is farther than ``contact_reach`` m from it at both ends of the
step: the block moves only when pushed or carried, so such a plan moves it by itself. In the
clean push data (400 episodes, 20,000 steps) 1.4% of the recorded steps count at the defaults
(the block sliding on after a push), so the count ranks candidates; it does not reject them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRIP_POS, OBJECT_POS = slice(0, 3), slice(3, 6)


@dataclass(frozen=True)
class FetchPlanningTask:
    """See the module docstring."""

    goal_dims: tuple[int, ...] = (3, 4, 5)
    rest_dims: tuple[int, ...] = ()
    rest_actions: bool = False
    position_dims: tuple[int, ...] = ()
    velocity_dims: tuple[int, ...] = ()
    goal_tolerance: float = 0.05
    contact_reach: float = 0.07
    slide_tol: float = 0.005

    def __post_init__(self) -> None:
        if not (self.contact_reach > 0 and self.slide_tol > 0):
            raise ValueError(f"FetchPlanningTask contact_reach and slide_tol must be > 0 (m), got "
                             f"{self.contact_reach!r} and {self.slide_tol!r}.")

    def path_length(self, state: np.ndarray, goal: np.ndarray) -> float:
        return float(np.linalg.norm(state[OBJECT_POS] - state[GRIP_POS]) + np.linalg.norm(goal - state[OBJECT_POS]))

    def subgoal(self, state: np.ndarray, goal: np.ndarray, k: int) -> np.ndarray:
        return goal

    def violations(self, states: np.ndarray) -> np.ndarray:
        """Infeasible steps per candidate plan, ``[N, H, O] -> [N]`` (module docstring): the
        block moves more than ``slide_tol`` while the gripper is beyond ``contact_reach`` of it
        at both ends of the step."""
        s = np.asarray(states, dtype=np.float64)
        if s.ndim != 3 or s.shape[-1] < 6:
            raise ValueError(f"violations expects planned states [N, H, O >= 6], got shape {s.shape}.")
        moved = np.linalg.norm(np.diff(s[..., OBJECT_POS], axis=1), axis=-1) > self.slide_tol
        gap = np.linalg.norm(s[..., GRIP_POS] - s[..., OBJECT_POS], axis=-1)
        apart = np.minimum(gap[:, :-1], gap[:, 1:]) > self.contact_reach
        return (moved & apart).sum(axis=1)
