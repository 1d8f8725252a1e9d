"""An upper bound on the return any agent can get in a PointMaze episode.

The maze reward is 1 per step spent within 0.5 of the goal, so the return of an episode is
``T - n + 1`` at most, where ``T`` is the step limit and ``n`` the first step that ends inside
the goal disk. This module bounds ``n`` from below with two relaxations that can only make the
ball faster or its path shorter, so the return bound holds for every policy:

* **Path.** The ball is a point that may touch walls and pass through wall corners: the
  shortest path inside the closed union of the free cells (a visibility graph over the cells'
  corners). Reaching the goal disk takes at least ``geodesic(start, goal) - 0.5``.
* **Speed.** The ball's x and y are two independent slide joints, so full throttle on both axes
  gives the largest displacement each axis can make at every step, starting from the episode's
  initial speeds. That profile is simulated on the same MuJoCo model in an open room (contacts
  only slow the ball down). Per step, the ball moves at most ``hypot(dx_max, dy_max)`` along
  its path, and at most ``dx_max`` (``dy_max``) along each axis.

``return_upper_bound(env, obs)`` applies both to the episode the env has just reset; pass an
:class:`OpenRoom` (``with OpenRoom(env) as room: ...``) to bound many episodes on one
simulator instead of building and closing one per call.
``benchmarks/maze_score_ceiling.py`` turns the bounds into normalized-score ceilings and checks
them against the tuned expert's returns, episode by episode.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from adiff_env.maze.env import GOAL_RADIUS
from adiff_env.maze.geometry import MazeGeometry

_SEGMENT_STEP = 0.01  # spacing of the free-space test along a visibility edge (maze units)
_TOL = 1e-6
_SIM_STEPS = 80  # full-throttle steps simulated; the speed is clipped long before


class _FreeSpace:
    """The closed union of a maze's free cells, as a boolean grid with its placement."""

    def __init__(self, geometry: MazeGeometry) -> None:
        self.free = ~geometry.walls
        self.scale = geometry.scale
        self.x_left, self.y_top = -geometry.x_center, geometry.y_center  # the grid's top-left corner

    def contains(self, points: np.ndarray) -> np.ndarray:
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        u = (pts[:, 0] - self.x_left) / self.scale
        v = (self.y_top - pts[:, 1]) / self.scale
        rows, cols = self.free.shape
        ok = np.zeros(len(pts), dtype=bool)
        for dr in (-_TOL, _TOL):  # a point on a border belongs to every cell it touches
            for dc in (-_TOL, _TOL):
                r = np.floor(v + dr).astype(int)
                c = np.floor(u + dc).astype(int)
                inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
                ok[inside] |= self.free[r[inside], c[inside]]
        return ok

    def segment_free(self, a: np.ndarray, b: np.ndarray) -> bool:
        n = max(2, int(math.ceil(np.linalg.norm(b - a) / _SEGMENT_STEP)) + 1)
        t = np.linspace(0.0, 1.0, n)[:, None]
        return bool(self.contains(a + t * (b - a)).all())

    def corners(self) -> np.ndarray:
        """Every corner of every free cell (a superset of the obstacle vertices a shortest path bends at)."""
        pts = {
            (self.x_left + (c + dc) * self.scale, self.y_top - (r + dr) * self.scale)
            for r, c in zip(*np.nonzero(self.free))
            for dr in (0, 1)
            for dc in (0, 1)
        }
        return np.array(sorted(pts), dtype=np.float64)


class _Visibility:
    """All-pairs shortest paths between the free cells' corners (Floyd-Warshall)."""

    def __init__(self, space: _FreeSpace) -> None:
        self.space = space
        self.nodes = space.corners()
        n = len(self.nodes)
        dist = np.full((n, n), np.inf)
        np.fill_diagonal(dist, 0.0)
        for i in range(n):
            for j in range(i + 1, n):
                if space.segment_free(self.nodes[i], self.nodes[j]):
                    dist[i, j] = dist[j, i] = float(np.linalg.norm(self.nodes[i] - self.nodes[j]))
        for k in range(n):
            dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
        self.dist = dist

    def _links(self, p: np.ndarray) -> np.ndarray:
        """Straight-line distance from ``p`` to each corner it sees (inf where a wall is in between)."""
        return np.array([np.linalg.norm(q - p) if self.space.segment_free(p, q) else np.inf for q in self.nodes])

    def geodesic(self, a: np.ndarray, b: np.ndarray) -> float:
        if self.space.segment_free(a, b):
            return float(np.linalg.norm(b - a))
        la, lb = self._links(a), self._links(b)
        return float(np.min(la[:, None] + self.dist + lb[None, :]))


_CACHE: dict[tuple, _Visibility] = {}


def visibility(env: gym.Env) -> _Visibility:
    """The env's free space and visibility graph, built once per maze layout (a few kB of
    numbers per layout; no simulator is kept)."""
    g: MazeGeometry = env.unwrapped.geometry
    key = (g.layout.maze_map, g.scale, g.x_center, g.y_center)
    if key not in _CACHE:
        _CACHE[key] = _Visibility(_FreeSpace(g))
    return _CACHE[key]


def in_free_space(env: gym.Env, points: np.ndarray) -> np.ndarray:
    """For each ``(x, y)`` row of ``points``: does it lie in the closed union of free cells?
    (A point on a cell's border counts as free if any cell it touches is free.)"""
    return visibility(env).space.contains(points)


def geodesic_distance(env: gym.Env, a, b) -> float:
    """Length of the shortest path from ``a`` to ``b`` (``(x, y)``) through the maze's free
    cells, treating the ball as a point that may touch walls."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    for name, p in (("a", a), ("b", b)):
        if p.shape != (2,) or not in_free_space(env, p)[0]:
            raise ValueError(f"{name}={p.tolist()} is not an (x, y) point in the maze's free space.")
    return visibility(env).geodesic(a, b)


_ROOM = [[1] * 14] + [[1] + [0] * 12 + [1] for _ in range(12)] + [[1] * 14]


class OpenRoom:
    """An open room on the same MuJoCo model as ``env`` (an env of the same id), where the
    full-throttle speed profile is simulated. A context manager: the simulator is closed on exit."""

    def __init__(self, env: gym.Env) -> None:
        spec = env.unwrapped.spec
        if spec is None:
            raise ValueError("the speed bound needs an env made with gym.make (it reads env.spec.id).")
        self.env_id = spec.id
        self.sim: Any = gym.make(spec.id, maze_map=_ROOM).unwrapped

    def close(self) -> None:
        self.sim.close()

    def __enter__(self) -> OpenRoom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def max_step_displacement(env: gym.Env, v0: np.ndarray, steps: int, room: OpenRoom | None = None) -> np.ndarray:
    """``(steps, 2)``: the largest ``|dx|`` and ``|dy|`` the ball can make at each step, starting
    from initial velocity ``v0``, found by full throttle on both axes in an open room built on the
    same MuJoCo model (``room``; without one, a room is built for this call and closed after it)."""
    if room is None:
        with OpenRoom(env) as own:
            return max_step_displacement(env, v0, steps, own)
    if env.unwrapped.spec is None or room.env_id != env.unwrapped.spec.id:
        raise ValueError(f"room was built for {room.env_id!r}, not for this env's id.")
    sim = room.sim
    sim.reset(seed=0, options={"reset_cell": (6, 6)})
    start = np.array(sim._cell_xy((6, 6)))
    sim.point_env.set_state(start.copy(), np.abs(np.asarray(v0, dtype=np.float64)))
    prev = start.copy()
    n_sim = min(steps, _SIM_STEPS)
    out = np.zeros((steps, 2))
    for t in range(n_sim):
        obs, *_ = sim.step(np.ones(2, dtype=np.float32))
        pos = obs["achieved_goal"].astype(np.float64)
        out[t] = np.abs(pos - prev)
        prev = pos
    if steps > n_sim:
        tail = out[n_sim - 5 : n_sim]
        if not np.allclose(tail, tail[-1], atol=1e-9):
            raise RuntimeError(f"the ball's speed did not settle within {n_sim} full-throttle steps: {tail.tolist()}")
        out[n_sim:] = out[n_sim - 1]
    return out


def return_upper_bound(env: gym.Env, obs: dict, room: OpenRoom | None = None) -> tuple[float, int]:
    """``(return_bound, min_steps)`` for the episode ``env`` has just reset to ``obs``: no policy
    earns more than ``return_bound`` in it, and none ends a step inside the goal disk before
    step ``min_steps`` (0 when the ball starts inside). ``room``: see :class:`OpenRoom`."""
    horizon = int(env.spec.max_episode_steps) if env.spec and env.spec.max_episode_steps else None
    if horizon is None:
        raise ValueError("return_upper_bound needs an env with a step limit (max_episode_steps).")
    pos = np.asarray(obs["achieved_goal"], dtype=np.float64)
    goal = np.asarray(obs["desired_goal"], dtype=np.float64)
    if np.linalg.norm(pos - goal) <= GOAL_RADIUS:
        return float(horizon), 0
    vel = np.asarray(obs["observation"], dtype=np.float64)[2:4]
    need_path = geodesic_distance(env, pos, goal) - GOAL_RADIUS
    # inside the goal disk means each axis within 0.5 too
    need_axis = np.maximum(np.abs(goal - pos) - GOAL_RADIUS, 0.0)
    disp = max_step_displacement(env, vel, horizon, room)
    path = np.cumsum(np.hypot(disp[:, 0], disp[:, 1]))
    axis = np.cumsum(disp, axis=0)
    reached = (path >= need_path - _TOL) & (axis[:, 0] >= need_axis[0] - _TOL) & (axis[:, 1] >= need_axis[1] - _TOL)
    if not reached.any():
        return 0.0, horizon + 1
    n = int(np.argmax(reached)) + 1
    return float(horizon - n + 1), n
