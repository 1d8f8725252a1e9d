"""Waypoint expert controllers for PointMaze (D4RL's reference controller and a tuned one).

:class:`WaypointExpert` is D4RL's ``waypoint_controller.WaypointController`` (the policy behind
D4RL's ``ref_max_score``) on gymnasium-robotics' coordinates:

* a shortest path on the maze grid (BFS, 4-neighbour moves) from the ball's cell to the goal's
  cell; waypoints are the centres of the path's cells after the start cell, the goal cell
  replaced by the exact goal (D4RL jitters intermediate waypoints by ``U(0, 0.2)``; we do not);
* PD control on the current waypoint ``w``: ``a = clip(P (w - pos) + D vel, -1, 1)`` with
  ``P = 10, D = -1``; the next waypoint is taken once ``||pos - w|| < 0.1`` (and the ball
  moved less than 0.1 in the last step); once within 0.1 of the goal it steers to the goal;
* it replans when the goal moves (continuing collection: a new goal each time one is reached),
  at ``episode_start``, and when the ball is pushed more than one cell off its plan (noise);
* optional Gaussian action noise ``N(0, noise_std^2)`` from its own ``np.random.Generator``,
  added after the PD action and clipped again to ``[-1, 1]``.

:class:`TunedWaypointExpert` reaches goals faster (``make_expert(env, tuned=True)``); see its
docstring for what it changes and ``benchmarks/compute_maze_refs.py`` for the measurement.

Both follow the agent protocol ``predict(observation, state=None, episode_start=None,
deterministic=True) -> (action, state)`` on the GoalEnv observation dict (``pos =
observation[:2]``, ``vel = observation[2:4]``, ``goal = desired_goal``). They hold the plan of
ONE env; a batch of one (shape ``(1, ...)``) is accepted and answered with shape ``(1, 2)``.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import Cell, MazeLayout

_VEL_THRESH = 0.1  # D4RL: the ball moved less than this in the last step before switching


class WaypointExpert:
    """D4RL's waypoint controller (see the module docstring). ``maze`` is ``env.unwrapped.maze``.

    Args:
        p_gain, d_gain: PD gains (D4RL: 10.0, -1.0; ``d_gain`` multiplies the velocity).
        switch_radius: distance to a waypoint at which the next one is taken (D4RL: 0.1).
        noise_std: std of the Gaussian action noise (0 = deterministic expert).
        seed: seed of the noise generator.
    """

    def __init__(
        self,
        maze: Any,
        *,
        p_gain: float = 10.0,
        d_gain: float = -1.0,
        switch_radius: float = 0.1,
        noise_std: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if not hasattr(maze, "maze_map") or not hasattr(maze, "cell_xy_to_rowcol"):
            raise TypeError(
                f"WaypointExpert expects a gymnasium_robotics Maze (env.unwrapped.maze), got {type(maze).__name__}."
            )
        if switch_radius <= 0 or noise_std < 0:
            raise ValueError(
                f"switch_radius must be > 0 and noise_std >= 0, got switch_radius={switch_radius}, noise_std={noise_std}."
            )
        self.maze = maze
        self.geometry = MazeGeometry.from_maze(maze)
        self.layout: MazeLayout = self.geometry.layout
        self.p_gain, self.d_gain = float(p_gain), float(d_gain)
        self.switch_radius = float(switch_radius)
        self.noise_std = float(noise_std)
        self.rng = np.random.default_rng(seed)
        self._scale = self.geometry.scale
        self.reset()

    # ------------------------------------------------------------------------ protocol
    def reset(self) -> None:
        """Forget the plan (the next call replans)."""
        self._goal: np.ndarray | None = None
        self.waypoints: list[np.ndarray] = []
        self.waypoint_cells: list[Cell] = []
        self._idx = 0
        self._prev = np.zeros(2)

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        """Action for one env. ``episode_start`` truthy forgets the plan; ``state`` passes through."""
        obs, batched = _single(observation)
        if episode_start is not None and bool(np.any(episode_start)):
            self.reset()
        point = np.asarray(obs["observation"], dtype=np.float64)
        pos, vel = point[:2], point[2:4]
        goal = np.asarray(obs["desired_goal"], dtype=np.float64)
        action = self.act(pos, vel, goal)
        if self.noise_std > 0:
            action = np.clip(action + self.rng.normal(0.0, self.noise_std, size=2), -1.0, 1.0)
        action = action.astype(np.float32)
        return (action[None] if batched else action), state

    # ------------------------------------------------------------------------- control
    def act(self, pos: np.ndarray, vel: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Noise-free PD action (shape ``(2,)``, in ``[-1, 1]``) toward the current waypoint."""
        cell = self.cell_of(pos)
        if self._goal is None or abs(goal[0] - self._goal[0]) + abs(goal[1] - self._goal[1]) > 1e-3 or self._off_plan(cell):
            self._plan(pos, goal)
        target = self._target(pos, vel)
        return np.clip(self.p_gain * (target - pos) + self.d_gain * vel, -1.0, 1.0)

    def _target(self, pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
        """D4RL's waypoint switching; returns the point to steer to."""
        goal = self._goal
        moved = math.hypot(self._prev[0] - pos[0], self._prev[1] - pos[1])
        self._prev = pos.copy()
        solved = math.hypot(pos[0] - goal[0], pos[1] - goal[1]) < self.switch_radius and moved < _VEL_THRESH
        if solved:
            return goal
        wp = self.waypoints[self._idx]
        if math.hypot(pos[0] - wp[0], pos[1] - wp[1]) < self.switch_radius and moved < _VEL_THRESH:
            self._idx = min(self._idx + 1, len(self.waypoints) - 1)
        return wp

    # ------------------------------------------------------------------------ planning
    def cell_of(self, xy: np.ndarray) -> Cell:
        """Grid cell ``(row, col)`` containing the point ``xy``."""
        return self.geometry.cell_of(xy)

    def cell_center(self, cell: Cell) -> np.ndarray:
        return self.geometry.cell_center(cell)

    def path_cells(self, start: Cell, goal_cell: Cell) -> list[Cell]:
        """Shortest path of cells from ``start`` to ``goal_cell`` (inclusive), BFS from the goal."""
        return self.geometry.path_cells(start, goal_cell)

    def _plan(self, pos: np.ndarray, goal: np.ndarray) -> None:
        goal_cell = self.cell_of(goal)
        if not self.layout.is_free(goal_cell):
            raise ValueError(f"The goal {goal.tolist()} lies in wall cell {goal_cell}; the expert cannot reach it.")
        cells = self.path_cells(self.cell_of(pos), goal_cell)
        self.waypoint_cells = cells[1:] if len(cells) > 1 else cells
        self.waypoints = [self.cell_center(c) for c in self.waypoint_cells[:-1]] + [goal.copy()]
        self._goal = goal.copy()
        self._idx = 0
        self._prev = pos.copy()

    def _off_plan(self, cell: Cell) -> bool:
        wc = self.waypoint_cells[self._idx]
        return abs(cell[0] - wc[0]) + abs(cell[1] - wc[1]) > 1



class TunedWaypointExpert(WaypointExpert):
    """A faster waypoint expert: same BFS path, but it steers at a look-ahead point.

    Changes against D4RL's controller: waypoints switch at ``switch_radius=0.3`` instead of
    0.1 (the ball keeps its speed through corridors instead of stopping at each cell centre),
    and the steering target is the farthest upcoming waypoint reachable in a straight line
    whose segment, widened by ``margin=0.1`` sideways, stays inside free cells (``lookahead=4``
    cells ahead at most), so straight runs and diagonal shortcuts are driven at full force.
    Gains stay D4RL's. Sweeps (switch radius 0.2-0.7, look-ahead 0-20, margin 0-0.2, P 10/20,
    D -1/-2; 30 episodes each) found these settings best or within 1% of it. Over 100 episodes
    (seeds 0..99) its mean return is +14% (U-Maze), +19% (Medium), +18% (Large) above D4RL's
    expert (normalized x100: 118, 120, 119); switching at 0.5 alone gives about +11%. Figures:
    ``benchmarks/compute_maze_refs.py`` (``expert_tuned_return`` in ``envs/mazes/references.json``).
    """

    def __init__(self, maze: Any, *, p_gain: float = 10.0, d_gain: float = -1.0, switch_radius: float = 0.3,
                 noise_std: float = 0.0, seed: int | None = None, lookahead: int = 4, margin: float = 0.1) -> None:
        super().__init__(maze, p_gain=p_gain, d_gain=d_gain, switch_radius=switch_radius, noise_std=noise_std, seed=seed)
        self.lookahead = int(lookahead)
        self.margin = float(margin)

    def _target(self, pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
        wp = super()._target(pos, vel)
        if wp is self._goal or self._idx >= len(self.waypoints) - 1:
            return wp
        best = wp
        for j in range(self._idx + 1, min(self._idx + 1 + self.lookahead, len(self.waypoints))):
            if not self._clear(pos, self.waypoints[j], self.margin):
                break
            best = self.waypoints[j]
        return best

    def _clear(self, a: np.ndarray, b: np.ndarray, margin: float) -> bool:
        """True if the segment a-b, widened by ``margin`` sideways, crosses only free cells."""
        d = b - a
        length = math.hypot(d[0], d[1])
        if length < 1e-9:
            return True
        n = np.array([-d[1], d[0]]) / length * margin
        steps = max(2, int(length / (0.25 * self._scale)) + 1)
        for t in np.linspace(0.0, 1.0, steps):
            p = a + t * d
            for q in (p, p + n, p - n):
                if not self.layout.is_free(self.cell_of(q)):
                    return False
        return True


def make_expert(env: gym.Env, tuned: bool = False, noise_std: float = 0.0, seed: int | None = None) -> WaypointExpert:
    """The D4RL expert (``tuned=False``) or :class:`TunedWaypointExpert` for a PointMaze env."""
    maze = getattr(env.unwrapped, "maze", None)
    if maze is None:
        raise TypeError(
            f"make_expert needs a PointMaze env (env.unwrapped.maze), got {type(env.unwrapped).__name__}; "
            "use an adiff/PointMaze-* id."
        )
    cls = TunedWaypointExpert if tuned else WaypointExpert
    return cls(maze, noise_std=noise_std, seed=seed)


def _single(observation) -> tuple[dict, bool]:
    """Unbatch a ``(1, ...)`` observation dict; reject larger batches."""
    if not isinstance(observation, dict) or "observation" not in observation or "desired_goal" not in observation:
        raise TypeError("The expert expects the GoalEnv observation dict (keys 'observation', 'desired_goal').")
    point = np.asarray(observation["observation"])
    if point.ndim == 1:
        return observation, False
    if point.ndim == 2 and point.shape[0] == 1:
        return {k: np.asarray(v)[0] for k, v in observation.items()}, True
    raise ValueError(
        f"The expert controls one env; got a batch of {point.shape[0]} observations. Make one expert per env."
    )
