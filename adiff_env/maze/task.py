"""The maze's :class:`~adiff_env.planners.task.PlanningTask`: what the trajectory planner needs
to know of a PointMaze (``env.unwrapped.planning_task()``).

State ``[x, y, vx, vy]``, goal ``(x, y)``: the plan reaches the goal at the deadline index and
rests there (zero velocity, zero action). The deadline comes from the grid route's length
(:meth:`MazeGeometry.grid_path_length`), subgoals are centres of cells ``k`` cells ahead on the
shortest cell path, and a candidate plan's violations are its positions inside walls.

With reward guidance whose reward asks something of the route (:class:`RouteHints`: coins,
waypoints, a forbidden zone), :meth:`MazePlanningTask.routed_subgoal` plans the cell route
through the points to pass, in the order of the shortest tour (BFS cell distances; every order
for up to :data:`MAX_EXACT_TOUR` points, nearest-first beyond), and around the zone's cells
where the maze leaves another way; the subgoal is ``k`` cells ahead on that route, or the next
point to pass once it is within ``k`` cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import Cell
from adiff_env.planners.task import RouteHints

GOAL_SLACK = 0.5  # the env's goal radius: within it a passed deadline is not renewed
APPROACH = 0.4  # a plan onto a route point ends this far short of it (inside the 0.5 that counts)
MAX_EXACT_TOUR = 7  # points to pass up to which every visiting order is tried (7! = 5040 orders)


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

    def routed_subgoal(self, state: np.ndarray, goal: np.ndarray, k: int, hints: RouteHints) -> np.ndarray:
        """The subgoal ``k`` cells ahead on :meth:`route`'s cell path (module doc); with ``k = 0``
        the next point to pass (or ``goal``)."""
        stops, path, marks = self.route(state, goal, hints)
        if k <= 0 or marks[0] <= k:
            # the next point to pass (or the goal) is within reach: plan onto it
            return self.approach_point(stops[0], path, marks[0]) if len(stops) > 1 else stops[0]
        return self.geometry.cell_center(path[k])

    def approach_point(self, point: np.ndarray, path: Sequence[Cell], mark: int) -> np.ndarray:
        """Where a plan onto route point ``point`` (reached at ``path[mark]``) ends: ``APPROACH``
        short of it towards the cell the route comes from, inside the ``goal_tolerance`` disc
        that counts as passing it, so the ball need not brake onto its centre (a dead end's
        coin is taken at the cell's mouth). ``point`` itself when the route starts in its cell."""
        if mark < 1 or APPROACH <= 0:
            return point
        back = self.geometry.cell_center(path[mark - 1]) - point
        norm = float(np.linalg.norm(back))
        return point if norm == 0 else point + back * (min(APPROACH, self.goal_tolerance) / norm)

    def route(self, state: np.ndarray, goal: np.ndarray, hints: RouteHints
              ) -> tuple[list[np.ndarray], list[Cell], list[int]]:
        """``(stops, path, marks)``: the points to pass in tour order (then ``goal``), the cell
        path from ``state``'s cell through them to the goal's cell avoiding ``blocked_cells(hints)``
        where it can, and the index on ``path`` at which each stop is reached."""
        g = self.geometry
        blocked = self.blocked_cells(hints.avoid)
        start, goal_cell = g.cell_of(state[:2]), g.cell_of(goal)
        points = [np.asarray(p, dtype=np.float64) for p in hints.visit + hints.via]
        n_any = len(hints.visit)
        order = tour_order(g, start, [g.cell_of(p) for p in points], goal_cell, n_any, blocked)
        stops = [points[i] for i in order] + [np.asarray(goal, dtype=np.float64)]
        path: list[Cell] = [start]
        marks: list[int] = []
        for stop in stops:
            path += g.path_cells(path[-1], g.cell_of(stop), blocked)[1:]
            marks.append(len(path) - 1)
        return stops, path, marks

    def route_length(self, state: np.ndarray, goal: np.ndarray, hints: RouteHints) -> float:
        """Length (maze units) of :meth:`route`'s cell path from ``state`` through the hints'
        points to ``goal``: cells walked times the cell size (the route budget's estimate)."""
        _, path, _ = self.route(state, goal, hints)
        return float((len(path) - 1) * self.geometry.scale)

    def blocked_cells(self, boxes: Sequence[Sequence[float]]) -> frozenset[Cell]:
        """Free cells whose centre lies inside one of ``boxes`` ``[M][4]`` (``x_lo, y_lo, x_hi, y_hi``)."""
        g = self.geometry
        out = set()
        for lo_x, lo_y, hi_x, hi_y in boxes:
            for r, c in g.layout.free:
                x, y = g.cell_center((r, c))
                if lo_x <= x <= hi_x and lo_y <= y <= hi_y:
                    out.add((r, c))
        return frozenset(out)


def tour_order(geometry: MazeGeometry, start: Cell, cells: Sequence[Cell], goal: Cell, n_any: int,
               blocked: frozenset[Cell] = frozenset()) -> list[int]:
    """Order (indices into ``cells``) in which to pass ``cells`` from ``start`` before ``goal``
    with the fewest cells walked (BFS distances through no ``blocked`` cell where the maze
    allows). ``cells[:n_any]`` may come in any order, ``cells[n_any:]`` keep theirs. Every
    order is tried for up to :data:`MAX_EXACT_TOUR` cells; beyond, the nearest next one."""
    n = len(cells)
    if n == 0:
        return []

    def d(a: Cell, b: Cell) -> int:
        return geometry.route_distance(a, b, blocked)

    fixed = list(range(n_any, n))

    def valid(order: tuple[int, ...]) -> bool:
        return [i for i in order if i >= n_any] == fixed

    def cost(order: tuple[int, ...]) -> int:
        seq = [start] + [cells[i] for i in order] + [goal]
        return sum(d(a, b) for a, b in zip(seq[:-1], seq[1:]))

    if n <= MAX_EXACT_TOUR:
        best: tuple[int, ...] = min((o for o in itertools.permutations(range(n)) if valid(o)), key=cost)
        return list(best)
    order: list[int] = []
    here, left = start, list(range(n))
    while left:
        next_fixed = next((j for j in fixed if j not in order), None)
        nxt = [i for i in left if i < n_any or i == next_fixed]
        pick = min(nxt, key=lambda i: d(here, cells[i]))
        order.append(pick)
        left.remove(pick)
        here = cells[pick]
    return order
