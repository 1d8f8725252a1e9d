"""The maze's :class:`~adiff_env.planners.task.PlanningTask`: what the trajectory planner needs
to know of a PointMaze (``env.unwrapped.planning_task()``).

State ``[x, y, vx, vy]``, goal ``(x, y)``: the plan reaches the goal at the deadline index and
rests there (zero velocity, zero action). The deadline comes from the grid route's length
(:meth:`MazeGeometry.grid_path_length`), subgoals are centres of cells ``k`` cells ahead on the
shortest cell path, and a candidate plan's violations are its positions inside walls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adiff_env.maze.geometry import MazeGeometry

GOAL_SLACK = 0.5  # the env's goal radius: within it a passed deadline is not renewed


@dataclass(frozen=True)
class MazePlanningTask:
    """See the module docstring."""

    geometry: MazeGeometry
    goal_dims: tuple[int, ...] = (0, 1)
    rest_dims: tuple[int, ...] = (2, 3)
    rest_actions: bool = True
    position_dims: tuple[int, ...] = (0, 1)
    velocity_dims: tuple[int, ...] = (2, 3)
    goal_tolerance: float = GOAL_SLACK

    def path_length(self, state: np.ndarray, goal: np.ndarray) -> float:
        return self.geometry.grid_path_length(state[:2], goal)

    def subgoal(self, state: np.ndarray, goal: np.ndarray, k: int) -> np.ndarray:
        """Centre of the cell ``k`` cells ahead on the shortest cell path, or ``goal`` itself
        once it is within ``k`` cells."""
        g = self.geometry
        cells = g.path_cells(g.cell_of(state[:2]), g.cell_of(goal))
        return goal if len(cells) - 1 <= k else g.cell_center(cells[k])

    def violations(self, states: np.ndarray) -> np.ndarray:
        """Planned positions inside wall cells, per plan: ``[N, H, O] -> [N]``."""
        n, h = states.shape[:2]
        return self.geometry.in_wall(states[..., :2].reshape(-1, 2)).reshape(n, h).sum(axis=1).astype(np.float64)
