"""One home for a PointMaze's grid geometry: cells and coordinates, cell paths, wall tests.

The env, the waypoint experts, the score bounds, the rewards and the planning task all ask
the same questions of a maze -- which cell holds this point, where is that cell's centre,
what is the shortest cell path to the goal, is this point inside a wall -- and they answer
them here, with one convention (gymnasium-robotics')::

    cell (row, col) of point (x, y):  row = floor((y_center - y) / s),  col = floor((x + x_center) / s)
    centre of cell (row, col):        x = (col + 1/2) s - x_center,     y = y_center - (row + 1/2) s

Row 0 is the top (largest ``y``); ``s`` is ``maze_size_scaling``. Points outside the grid are
inside walls. Cell paths are BFS paths over 4-neighbour moves, ties broken up, down, left,
right (:func:`~adiff_env.maze.layout.bfs_distances`); BFS results are cached per goal cell
(and per set of ``blocked`` cells: free cells a route must keep out of, e.g. a forbidden zone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from adiff_env.maze.layout import Cell, MazeLayout, bfs_distances

_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


class MazeGeometry:
    """Geometry of one maze grid (see the module docstring).

    Args:
        layout: the grid (walls are cells equal to ``1``).
        scale: side of a cell in maze units (``maze.maze_size_scaling``).
        x_center, y_center: gymnasium-robotics' map centre offsets (``maze.x_map_center`` ...).
    """

    def __init__(self, layout: MazeLayout, scale: float, x_center: float, y_center: float) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}.")
        self.layout = layout
        self.scale = float(scale)
        self.x_center, self.y_center = float(x_center), float(y_center)
        self.walls = np.array([[v == 1 for v in row] for row in layout.maze_map], dtype=bool)  # [rows, cols]
        self._distances: dict[tuple[Cell, frozenset[Cell]], dict[Cell, int]] = {}

    @classmethod
    def from_maze(cls, maze: Any) -> MazeGeometry:
        """From a gymnasium-robotics ``Maze`` (``env.unwrapped.maze``); any grid, no validation."""
        if not hasattr(maze, "maze_map") or not hasattr(maze, "maze_size_scaling"):
            raise TypeError(f"MazeGeometry.from_maze expects a gymnasium_robotics Maze (env.unwrapped.maze), "
                            f"got {type(maze).__name__}.")
        grid = tuple(tuple(row) for row in maze.maze_map)
        free = tuple((r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if v != 1)
        layout = MazeLayout(maze_map=grid, free=free, goal_cells=(), reset_cells=())
        return cls(layout, maze.maze_size_scaling, maze.x_map_center, maze.y_map_center)

    # ------------------------------------------------------------------ cells <-> points
    def cell_of(self, xy: Any) -> Cell:
        """Cell ``(row, col)`` holding the point ``xy`` (``[2]``)."""
        return (math.floor((self.y_center - xy[1]) / self.scale), math.floor((xy[0] + self.x_center) / self.scale))

    def cells_of(self, xy: Any) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns ``[N]`` of the cells holding the points ``xy [N, 2]``."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return (np.floor((self.y_center - xy[:, 1]) / self.scale).astype(int),
                np.floor((xy[:, 0] + self.x_center) / self.scale).astype(int))

    def cell_center(self, cell: Cell) -> np.ndarray:
        """Centre ``[2]`` of ``cell``."""
        return np.array([(cell[1] + 0.5) * self.scale - self.x_center, self.y_center - (cell[0] + 0.5) * self.scale])

    def in_wall(self, xy: Any) -> np.ndarray:
        """Bool ``[N]``: each point of ``xy [N, 2]`` lies in a wall cell (outside the grid counts as wall)."""
        r, c = self.cells_of(xy)
        inside = (r >= 0) & (r < self.walls.shape[0]) & (c >= 0) & (c < self.walls.shape[1])
        out = np.ones(len(r), dtype=bool)
        out[inside] = self.walls[r[inside], c[inside]]
        return out

    def wall_boxes(self) -> np.ndarray:
        """``[W, 4]`` wall cells as boxes ``(x_min, y_min, x_max, y_max)``."""
        rows, cols = np.nonzero(self.walls)
        lo_x, hi_y = cols * self.scale - self.x_center, self.y_center - rows * self.scale
        return np.stack([lo_x, hi_y - self.scale, lo_x + self.scale, hi_y], axis=1)

    # ------------------------------------------------------------------ paths
    def distances_to(self, goal_cell: Cell, blocked: Iterable[Cell] = ()) -> dict[Cell, int]:
        """BFS cell distance from every reachable free cell to ``goal_cell`` (cached), moving
        only through free cells not in ``blocked`` (``goal_cell`` itself is never blocked)."""
        key = (goal_cell, frozenset(blocked) - {goal_cell})
        dist = self._distances.get(key)
        if dist is None:
            dist = self._distances[key] = bfs_distances(self.layout, goal_cell, key[1])
        return dist

    def path_cells(self, start: Cell, goal_cell: Cell, blocked: Iterable[Cell] = ()) -> list[Cell]:
        """Shortest cell path from ``start`` to ``goal_cell``, both included, through no cell of
        ``blocked`` but ``start``. A ``start`` that is no reachable cell (a ball momentarily inside
        a wall cell at a corner) is replaced by the nearest reachable cell. With ``blocked``, a
        goal it cuts off from ``start`` is reached by the shortest path ignoring ``blocked``."""
        blocked = frozenset(blocked) - {start}
        dist = self.distances_to(goal_cell, blocked)
        if blocked and start not in dist and start in self.distances_to(goal_cell):
            dist = self.distances_to(goal_cell)  # the zone cuts the goal off: no route avoids it
        if start not in dist:
            start = min(dist, key=lambda c: (abs(c[0] - start[0]) + abs(c[1] - start[1]), dist[c]))
        path = [start]
        while path[-1] != goal_cell:
            r, c = path[-1]
            path.append(next((r + dr, c + dc) for dr, dc in _NEIGHBOURS if dist.get((r + dr, c + dc), -1) == dist[(r, c)] - 1))
        return path

    def route_distance(self, start: Cell, goal_cell: Cell, blocked: Iterable[Cell] = ()) -> int:
        """Length in cells of :meth:`path_cells` ``(start, goal_cell, blocked)``."""
        return len(self.path_cells(start, goal_cell, blocked)) - 1

    def grid_path_length(self, pos: Any, goal: Any) -> float:
        """Length of the grid route ``pos -> centres of the path's intermediate cells -> goal``
        (straight segments between them): the planner's deadline estimate. It is not the true
        geodesic (that one, corners cut, is :func:`~adiff_env.maze.bounds.geodesic_distance`)."""
        cells = self.path_cells(self.cell_of(pos), self.cell_of(goal))
        points = [np.asarray(pos)] + [self.cell_center(c) for c in cells[1:-1]] + [np.asarray(goal)]
        return float(sum(np.linalg.norm(b - a) for a, b in zip(points[:-1], points[1:])))
