"""Pictures of PointMaze episodes with matplotlib (walls, start, goal, coins, paths).

``plot_maze(env_or_maze, paths={"executed": xy}, ax=None)`` draws in MuJoCo ``(x, y)``
coordinates, so positions from observations (``obs["achieved_goal"]``) and planned
trajectories plot as they are. It uses a bare ``matplotlib.figure.Figure`` (no pyplot global
state), so it works headless; save with ``ax.figure.savefig(path)`` or :func:`save_figure`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_PATH_COLOURS = ("tab:blue", "tab:orange", "tab:purple", "tab:green", "tab:brown", "tab:pink")


def _maze_and_env(maze_or_env: Any) -> tuple[Any, Any]:
    """(gymnasium-robotics Maze, unwrapped env or None) from an env, an unwrapped env or a Maze."""
    if hasattr(maze_or_env, "maze_map") and hasattr(maze_or_env, "cell_rowcol_to_xy"):
        return maze_or_env, None
    env = getattr(maze_or_env, "unwrapped", maze_or_env)
    maze = getattr(env, "maze", None)
    if maze is None:
        raise TypeError(
            f"plot_maze expects a PointMaze env or a gymnasium_robotics Maze, got {type(maze_or_env).__name__}."
        )
    return maze, env


def plot_maze(
    maze_or_env: Any,
    paths: Mapping[str, Any] | Sequence[Any] | None = None,
    ax: Any = None,
    goal: Sequence[float] | None = None,
    coins: Any = None,
    title: str | None = None,
) -> Any:
    """Draw the maze and optional paths; return the matplotlib ``Axes``.

    Args:
        maze_or_env: a PointMaze env (wrapped or not) or a gymnasium-robotics ``Maze``.
        paths: ``{label: xy}`` or a list of ``xy``, each array-like of shape ``(T, 2)``
            (``(T, >=2)`` is cut to its first two columns). Each path's first point is
            marked as a start (circle), its last as an end (cross).
        ax: axes to draw on; a new ``Figure`` (6x6 in) is made when ``None``.
        goal: ``(x, y)`` of the goal star; default the env's current goal if an env is given.
        coins: ``(n, 2)`` coin positions; default the env's ``coin_positions`` if any.
        title: axes title.
    """
    maze, env = _maze_and_env(maze_or_env)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6, 6 * maze.map_length / maze.map_width + 0.3)).add_subplot()
    walls = np.array([[1.0 if v == 1 else 0.0 for v in row] for row in maze.maze_map])
    half_x, half_y = maze.x_map_center, maze.y_map_center
    ax.imshow(walls, cmap="Greys", vmin=0.0, vmax=1.6, extent=(-half_x, half_x, -half_y, half_y), origin="upper")
    if isinstance(paths, Mapping):
        items = list(paths.items())
    else:
        items = [(f"path {i}", p) for i, p in enumerate(paths or [])]
    for i, (label, xy) in enumerate(items):
        xy = np.asarray(xy, dtype=float)
        if xy.ndim != 2 or xy.shape[1] < 2 or len(xy) == 0:
            raise ValueError(f"plot_maze: path {label!r} must have shape (T, 2), got {xy.shape}.")
        colour = _PATH_COLOURS[i % len(_PATH_COLOURS)]
        ax.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=1.8, label=label)
        ax.plot(xy[0, 0], xy[0, 1], "o", color=colour, ms=9, mec="black", label=f"{label} start")
        ax.plot(xy[-1, 0], xy[-1, 1], "x", color=colour, ms=9, mew=2.5)
    if goal is None and env is not None and getattr(env, "goal", None) is not None:
        goal = env.goal
    if goal is not None:
        ax.plot(goal[0], goal[1], "*", color="crimson", ms=20, mec="black", label="goal")
        ax.add_patch(_circle(goal, 0.5, "crimson"))
    if coins is None and env is not None:
        coins = getattr(env, "coin_positions", None)
    if coins is not None and len(coins):
        coins = np.asarray(coins, dtype=float).reshape(-1, 2)
        ax.plot(coins[:, 0], coins[:, 1], "o", color="gold", ms=14, mec="darkgoldenrod", mew=2, label="coin")
    ax.set_xlim(-half_x, half_x)
    ax.set_ylim(-half_y, half_y)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    if items or goal is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


def _circle(centre: Sequence[float], radius: float, colour: str) -> Any:
    from matplotlib.patches import Circle

    return Circle((centre[0], centre[1]), radius, fill=False, ls="--", color=colour, lw=1.2)


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure as PNG atomically (temp file, then ``os.replace``); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png.tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
