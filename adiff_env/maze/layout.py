"""Maze layouts: parse, validate and search the cell grid of a PointMaze.

A layout is gymnasium-robotics' list-of-lists convention, ``maze_map[row][col]``:
``1`` wall, ``0`` free, ``"g"`` goal cell, ``"r"`` reset (start) cell, ``"c"`` both. The text
files in the top-level ``envs/mazes/`` catalog write the same grid one row per line with
``#`` (wall), ``.`` (free), ``g``, ``r``, ``c`` (see ``envs/mazes/README.md``).

Cells are ``(row, col)`` tuples; row 0 is the top (largest ``y`` in MuJoCo coordinates).
Everything here is pure Python over the grid, so the expert controllers and the plotting
code use the same shortest paths as the env's goal rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adiff_env.assets import asset_path, asset_root
from adiff_env.errors import UnknownNameError

Cell = tuple[int, int]

_FILE_CHARS = {"#": 1, ".": 0, "g": "g", "r": "r", "c": "c"}
_MAP_VALUES = (0, 1, "g", "r", "c")
_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


@dataclass(frozen=True)
class MazeLayout:
    """A validated maze grid.

    Attributes:
        maze_map: the grid in gymnasium-robotics' convention (list of rows, ints/str).
        free: all non-wall cells in row-major order.
        goal_cells: cells marked ``"g"`` or ``"c"`` (row-major), possibly empty.
        reset_cells: cells marked ``"r"`` or ``"c"`` (row-major), possibly empty.
    """

    maze_map: tuple[tuple[int | str, ...], ...]
    free: tuple[Cell, ...]
    goal_cells: tuple[Cell, ...]
    reset_cells: tuple[Cell, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.maze_map), len(self.maze_map[0])

    def as_lists(self) -> list[list[int | str]]:
        """A fresh list-of-lists copy (what gymnasium-robotics' ``Maze`` expects)."""
        return [list(row) for row in self.maze_map]

    def is_free(self, cell: Cell) -> bool:
        r, c = cell
        rows, cols = self.shape
        return 0 <= r < rows and 0 <= c < cols and self.maze_map[r][c] != 1

    def to_text(self) -> str:
        """The layout in the text-file format (``#``, ``.``, ``g``, ``r``, ``c``)."""
        inv = {1: "#", 0: ".", "g": "g", "r": "r", "c": "c"}
        return "\n".join("".join(inv[v] for v in row) for row in self.maze_map) + "\n"


def layout_names() -> list[str]:
    """File names of the layouts shipped in ``envs/mazes/``."""
    return sorted(p.name for p in asset_root("envs").joinpath("mazes").glob("*.txt"))


def resolve_layout_path(layout: str | Path) -> Path:
    """Path of a layout given as a catalog name (``"umaze"`` / ``"umaze.txt"``) or a file path.

    Raises:
        UnknownNameError: neither an existing file nor a catalog name (lists the catalog).
    """
    path = Path(layout)
    if path.is_file():
        return path
    name = str(layout)
    for candidate in (name, f"{name}.txt"):
        catalog = asset_path("envs", "mazes", candidate)
        if "/" not in candidate and catalog.is_file():
            return catalog
    raise UnknownNameError("maze layout", name, layout_names() + ["<path to a .txt file>"])


def read_layout_file(layout: str | Path) -> list[list[int | str]]:
    """Parse a layout text file (one row per line) into gymnasium-robotics' list of lists."""
    path = resolve_layout_path(layout)
    lines = [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    grid: list[list[int | str]] = []
    for r, line in enumerate(lines):
        row = []
        for c, ch in enumerate(line):
            if ch not in _FILE_CHARS:
                raise ValueError(
                    f"Maze layout {str(path)!r}: unknown character {ch!r} at row {r}, column {c}. "
                    f"Expected one of {' '.join(repr(k) for k in _FILE_CHARS)} (see envs/mazes/README.md)."
                )
            row.append(_FILE_CHARS[ch])
        grid.append(row)
    return grid


def validate_layout(maze_map: Sequence[Sequence[int | str]], source: str = "maze_map") -> MazeLayout:
    """Check a grid and return it as a :class:`MazeLayout`.

    Raises ``ValueError`` naming the problem for: a non-rectangular (ragged) grid, fewer than
    3 rows/columns, unknown cell values, free cells on the outer border (the ball would leave
    the maze), or no free cell at all. Reachability of the goal is checked by the env once it
    knows the goal (:func:`check_reachable`).
    """
    if isinstance(maze_map, (str, bytes)) or not isinstance(maze_map, Sequence) or not maze_map:
        raise ValueError(f"{source} must be a non-empty list of rows (lists), got {maze_map!r:.80}.")
    rows = [list(row) if isinstance(row, Sequence) and not isinstance(row, str) else None for row in maze_map]
    if any(row is None for row in rows):
        raise ValueError(f"{source}: every row must be a list of cells, e.g. [1, 0, 'g', 1].")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        bad = next(i for i, row in enumerate(rows) if len(row) != len(rows[0]))
        raise ValueError(
            f"{source} is ragged: row 0 has {len(rows[0])} cells but row {bad} has {len(rows[bad])}; "
            "all rows must have the same length."
        )
    n_rows, n_cols = len(rows), len(rows[0])
    if n_rows < 3 or n_cols < 3:
        raise ValueError(f"{source} must be at least 3x3 (walls around free cells), got {n_rows}x{n_cols}.")
    clean: list[list[int | str]] = []
    for r, row in enumerate(rows):
        out = []
        for c, v in enumerate(row):
            if isinstance(v, bool) or v not in _MAP_VALUES:
                raise ValueError(
                    f"{source}: unknown cell value {v!r} at row {r}, column {c}; expected 1 (wall), 0 (free), "
                    "'g' (goal), 'r' (reset) or 'c' (goal and reset)."
                )
            out.append(v)
        clean.append(out)
    free = tuple((r, c) for r in range(n_rows) for c in range(n_cols) if clean[r][c] != 1)
    if not free:
        raise ValueError(f"{source} has no free cell: mark at least one cell 0, 'g', 'r' or 'c'.")
    border = [(r, c) for r, c in free if r in (0, n_rows - 1) or c in (0, n_cols - 1)]
    if border:
        raise ValueError(
            f"{source}: free cell {border[0]} lies on the outer border; surround the maze with walls (1 / '#')."
        )
    return MazeLayout(
        maze_map=tuple(tuple(row) for row in clean),
        free=free,
        goal_cells=tuple(cell for cell in free if clean[cell[0]][cell[1]] in ("g", "c")),
        reset_cells=tuple(cell for cell in free if clean[cell[0]][cell[1]] in ("r", "c")),
    )


def bfs_distances(layout: MazeLayout, source: Cell, blocked: frozenset[Cell] = frozenset()) -> dict[Cell, int]:
    """Shortest-path length (4-neighbour moves) from ``source`` to every reachable free cell,
    never stepping onto a cell in ``blocked`` (e.g. a forbidden zone; ``source`` itself may be one)."""
    if not layout.is_free(source):
        raise ValueError(f"BFS source {source} is not a free cell of the maze.")
    dist = {source: 0}
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for dr, dc in _NEIGHBOURS:
            nxt = (r + dr, c + dc)
            if nxt not in dist and nxt not in blocked and layout.is_free(nxt):
                dist[nxt] = dist[(r, c)] + 1
                queue.append(nxt)
    return dist


def shortest_path(layout: MazeLayout, start: Cell, goal: Cell) -> list[Cell]:
    """Cells from ``start`` to ``goal`` inclusive along a shortest path (deterministic ties:
    up, down, left, right). Raises ``ValueError`` if the goal is unreachable."""
    dist = bfs_distances(layout, goal)
    if start not in dist:
        raise ValueError(f"Cell {goal} cannot be reached from cell {start} in this maze.")
    path = [start]
    while path[-1] != goal:
        r, c = path[-1]
        path.append(next((r + dr, c + dc) for dr, dc in _NEIGHBOURS if dist.get((r + dr, c + dc), -1) == dist[(r, c)] - 1))
    return path


def route_turns(layout: MazeLayout, start: Cell, goal: Cell) -> int:
    """Turns (changes of direction) along the shortest cell route from ``start`` to ``goal``
    (:func:`shortest_path`): 0 for a straight run or the same cell. Raises ``ValueError`` if the
    goal is unreachable."""
    path = shortest_path(layout, start, goal)
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:])]
    return sum(1 for u, v in zip(steps, steps[1:]) if u != v)


def farthest_cell(layout: MazeLayout, source: Cell) -> Cell:
    """The free cell farthest from ``source`` by shortest path; ties go to the first in
    row-major order, so the choice is deterministic."""
    dist = bfs_distances(layout, source)
    best = max(dist.values())
    return next(cell for cell in layout.free if dist.get(cell) == best)


def check_reachable(layout: MazeLayout, goal: Cell, starts: Sequence[Cell], source: str = "maze_map") -> None:
    """Raise ``ValueError`` if any start cell cannot reach ``goal``."""
    dist = bfs_distances(layout, goal)
    cut_off = [cell for cell in starts if cell not in dist]
    if cut_off:
        raise ValueError(
            f"{source}: the goal cell {goal} is unreachable from start cell {cut_off[0]} "
            f"({len(cut_off)} start cell(s) cut off). Open a passage, wall the pocket off, or mark the "
            "start cells with 'r'."
        )
