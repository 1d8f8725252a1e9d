"""The Fetch tasks' :class:`~adiff_env.planners.task.PlanningTask` (``env.unwrapped.planning_task()``).

Fetch's 25-dim observation (gymnasium-robotics ``MujocoFetchEnv._get_obs``)::

    0:3 grip_pos   3:6 object_pos   6:9 object_rel_pos   9:11 gripper_state   11:14 object_rot
    14:17 object_velp   17:20 object_velr   20:23 grip_velp   23:25 gripper_vel

The goal pins the object's position (``3:6``) from the deadline on; nothing else is pinned
(Fetch's ``object_velp`` is relative to the gripper, so a block at rest need not read zero,
and the gripper may move on).
The action is a Cartesian gripper delta plus a finger command, so there is no PD rule in state
space: Fetch planners act by inverse dynamics or the planned action. The route length is the
gripper's way to the block plus the block's way to the goal (straight lines); no subgoals, no
feasibility test.
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

    def path_length(self, state: np.ndarray, goal: np.ndarray) -> float:
        return float(np.linalg.norm(state[OBJECT_POS] - state[GRIP_POS]) + np.linalg.norm(goal - state[OBJECT_POS]))

    def subgoal(self, state: np.ndarray, goal: np.ndarray, k: int) -> np.ndarray:
        return goal

    def violations(self, states: np.ndarray) -> None:
        return None
