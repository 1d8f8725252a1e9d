"""Maze rewards on cells named in the reward spec: a forbidden zone and waypoints to pass.

Spelled in a reward spec (:mod:`adiff_env.planners.reward_spec`) with the cells in brackets,
``row,col`` pairs joined by ``;`` (row 0 is the top row of the layout file)::

    avoid[3,2;3,3]          keep out of cells (3, 2) and (3, 3)
    waypoint[1,1]           pass through cell (1, 1) on the way to the goal
    waypoint[1,1;5,4]:2     pass (1, 1), then (5, 4); weight 2

- :class:`AvoidCellsReward` (``avoid``): ``-`` share of steps inside the zone's cells; torch:
  ``-sum_t sum_z relu(margin - sd_z(p_t))^2`` (:func:`~adiff_env.maze.penalty.box_penalty` on
  the zone's cell boxes). Route hint: the zone's boxes, so the planner's subgoals go around the
  zone where the maze leaves another way.
- :class:`WaypointReward` (``waypoint``): number of waypoints (cell centres) not yet passed
  that the trajectory passes within ``radius``; torch: ``-sum_k softmin_t ||p_t - w_k||``.
  Route hint: the waypoints, in the given order. The env keeps no record of passed waypoints;
  the planner does (per episode) and drops them (:meth:`WaypointReward.without`).

Bad cells (not ``row,col`` integers, outside the grid, walls, repeated) raise ``ValueError``
naming the value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from adiff_env.evolve.rewards import RewardFactory, batch_positions, trajectory_positions
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import Cell
from adiff_env.maze.penalty import box_penalty
from adiff_env.planners.task import RouteHints

WAYPOINT_RADIUS = 0.5  # as the coins': a waypoint is passed within 0.5 of its cell's centre


def parse_cells(text: Any, geometry: MazeGeometry, name: str) -> tuple[Cell, ...]:
    """Cells of ``text`` (``"r,c;r,c"``, module doc), each a free cell of ``geometry``'s maze."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"reward {name!r} needs cells in brackets, e.g. '{name}[3,2;3,3]' (row,col pairs joined by "
                         f"';'), got {text!r}.")
    rows, cols = geometry.walls.shape
    cells: list[Cell] = []
    for part in text.split(";"):
        bits = [b.strip() for b in part.split(",")]
        try:
            if len(bits) != 2:
                raise ValueError
            cell = (int(bits[0]), int(bits[1]))
        except ValueError:
            raise ValueError(f"reward {name!r}: {part.strip()!r} is not a cell; write row,col integers, e.g. "
                             f"'{name}[3,2;3,3]'.") from None
        if not (0 <= cell[0] < rows and 0 <= cell[1] < cols):
            raise ValueError(f"reward {name!r}: cell {cell} is outside the {rows}x{cols} maze (rows 0-{rows - 1}, "
                             f"cols 0-{cols - 1}).")
        if geometry.walls[cell]:
            raise ValueError(f"reward {name!r}: cell {cell} is a wall; name free cells of the maze.")
        if cell in cells:
            raise ValueError(f"reward {name!r}: cell {cell} is given twice in {text!r}.")
        cells.append(cell)
    return tuple(cells)


def cell_boxes(geometry: MazeGeometry, cells: tuple[Cell, ...]) -> np.ndarray:
    """``[Z, 4]`` boxes ``(x_min, y_min, x_max, y_max)`` of ``cells``."""
    half = geometry.scale / 2
    centres = np.array([geometry.cell_center(c) for c in cells]).reshape(-1, 2)
    return np.concatenate([centres - half, centres + half], axis=1)


class AvoidCellsReward:
    """Keep out of ``cells`` (a forbidden zone; module doc)."""

    def __init__(self, geometry: MazeGeometry, cells: tuple[Cell, ...], margin: float = 0.1) -> None:
        if not cells:
            raise ValueError("AvoidCellsReward needs at least one cell.")
        self.geometry, self.cells, self.margin = geometry, tuple(cells), float(margin)
        self.boxes = cell_boxes(geometry, self.cells)

    def inside(self, positions: np.ndarray) -> np.ndarray:
        """Bool ``[T]``: each position ``[T, 2]`` lies in a zone cell."""
        r, c = self.geometry.cells_of(positions)
        return np.array([(int(a), int(b)) in self.cells for a, b in zip(r, c)], dtype=bool)

    def __call__(self, trajectory: np.ndarray) -> float:
        return -float(np.mean(self.inside(trajectory_positions(trajectory))))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        return -box_penalty(batch_positions(x), self.boxes, self.margin)

    def route_hints(self) -> RouteHints:
        return RouteHints(avoid=tuple(tuple(float(v) for v in b) for b in self.boxes))


class WaypointReward:
    """Pass ``points`` ``[K, 2]`` in order (module doc); ``passed`` ``[K]`` marks those already passed."""

    def __init__(self, points: np.ndarray, radius: float = WAYPOINT_RADIUS, passed: Any = None,
                 temperature: float = 0.1) -> None:
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        mask = np.zeros(len(self.points), dtype=bool) if passed is None else np.asarray(passed, dtype=bool).reshape(-1)
        if mask.shape != (len(self.points),):
            raise ValueError(f"passed must have one entry per waypoint ({len(self.points)}), got shape {mask.shape}.")
        self.open = ~mask
        self.radius, self.temperature = float(radius), float(temperature)

    def __call__(self, trajectory: np.ndarray) -> float:
        p = trajectory_positions(trajectory)
        d = np.linalg.norm(p[:, None, :] - self.points[None], axis=-1)  # [T, K]
        return float(np.sum((d.min(axis=0) <= self.radius) & self.open))

    def torch_reward(self, x: torch.Tensor) -> torch.Tensor:
        p = batch_positions(x)
        w = torch.as_tensor(self.points[self.open], dtype=x.dtype, device=x.device)
        if w.shape[0] == 0:
            return 0.0 * p.sum(dim=(1, 2))  # nothing left to pass: zero, still differentiable (guidance backprops)
        d = (p[:, :, None, :] - w[None, None]).norm(dim=-1)  # [B, H, K]
        return self.temperature * torch.logsumexp(-d / self.temperature, dim=1).sum(dim=1)

    def route_hints(self) -> RouteHints:
        return RouteHints(via=tuple(tuple(float(v) for v in w) for w in self.points[self.open]))

    def without(self, reached: Any) -> WaypointReward:
        """A copy with the waypoints within ``radius`` of any point of ``reached`` ``[R, 2]`` marked passed."""
        pts = np.asarray(reached, dtype=np.float64).reshape(-1, 2)
        passed = ~self.open
        if len(pts):
            passed = passed | (np.linalg.norm(self.points[:, None] - pts[None], axis=-1).min(axis=1) <= self.radius)
        return WaypointReward(self.points, self.radius, passed, self.temperature)


def _geometry(env: Any) -> MazeGeometry:
    return getattr(env, "unwrapped", env).geometry


def _avoid(env: Any, arg: str | None = None, margin: float = 0.1) -> AvoidCellsReward:
    g = _geometry(env)
    return AvoidCellsReward(g, parse_cells(arg, g, "avoid"), margin)


def _waypoint(env: Any, arg: str | None = None, radius: float = WAYPOINT_RADIUS) -> WaypointReward:
    g = _geometry(env)
    return WaypointReward(np.array([g.cell_center(c) for c in parse_cells(arg, g, "waypoint")]), radius)


ZONE_REWARDS: dict[str, RewardFactory] = {"avoid": _avoid, "waypoint": _waypoint}
"""Maze rewards that take cells (``factory(env, arg="r,c;r,c")``)."""
