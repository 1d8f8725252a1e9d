"""PointMaze tasks on gymnasium-robotics' MuJoCo PointMaze, under D4RL's maze2d protocol.

Protocol (D4RL ``maze2d-*-v1``), for ``adiff/PointMaze-{UMaze,Medium,Large}-v0``:

* one fixed evaluation goal per maze, the exact centre of D4RL's goal cell (no noise):
  U-Maze ``(1, 1)``, Medium ``(6, 6)``, Large ``(7, 9)`` as ``(row, col)`` of the layout;
* each reset starts in a uniformly random free cell (the goal cell included, as D4RL), at the
  cell centre plus ``U(-0.1, 0.1)`` per axis, with initial velocity ``N(0, 0.1^2)`` per axis;
* sparse reward ``r_t = 1.0 if ||achieved_goal - goal||_2 <= 0.5 else 0.0`` every step, so
  an agent is rewarded for staying at the goal; the task is continuing (no termination),
  episodes are truncated after 300 / 600 / 800 steps; ``info["success"]`` is the same test;
* normalized score ``(return - ref_min) / (ref_max - ref_min)`` (0-1 scale) with references
  computed by ``benchmarks/compute_maze_refs.py`` (uniform random policy and D4RL's waypoint
  expert, 100 episodes, reset seeds 0..99), stored in ``envs/mazes/references.json``.

Goal of a layout (first rule that applies): ``goal_cell=`` > the first ``"g"``/``"c"`` cell >
D4RL's goal for the shipped ``umaze/medium/large`` files > the free cell farthest (BFS) from
the first ``"r"``/``"c"`` cell, or from the first free cell in row-major order when there is
none. Start cells are the ``"r"``/``"c"`` cells if any, else every free cell.

Gold coins (``coins=[(row, col), ...]``): the first time the ball passes within 0.5 of a coin
cell's centre the step reward gains ``coin_bonus``. The observation dict then also holds
``coin_positions`` (flat ``(2n,)``: ``x0, y0, x1, y1, ...``) and ``coins_collected``
(``MultiBinary(n)``), and ``info`` holds ``coin_positions`` (``(n, 2)``), ``coins_collected``
and ``coin_bonus`` (this step's bonus), so ``compute_reward(ag, dg, info)``
reproduces the step reward and SB3's HER keeps working.

``continuing_task=False`` terminates on success; ``reset_target=True`` draws a random goal
(a ``"g"``/``"c"`` cell if the map has two or more, else any free cell, centre plus
``U(-0.1, 0.1)``) at each reset and, in a continuing task, a new one each time it is reached.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils.ezpickle import EzPickle
from gymnasium_robotics.core import GoalEnv
from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

from adiff_env.assets import asset_path
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import (
    Cell,
    MazeLayout,
    check_reachable,
    farthest_cell,
    read_layout_file,
    resolve_layout_path,
    validate_layout,
)
from adiff_env.maze.task import MazePlanningTask

GOAL_RADIUS = 0.5
"""D4RL's success / reward distance (gymnasium-robotics uses 0.45)."""
COIN_RADIUS = 0.5
RESET_POS_NOISE = 0.1
RESET_VEL_STD = 0.1
GOAL_POS_NOISE = 0.1
D4RL_EVAL_GOALS: dict[str, Cell] = {"umaze.txt": (1, 1), "medium.txt": (6, 6), "large.txt": (7, 9)}
"""D4RL maze2d's goal cell (row, col) of each shipped layout (Minari's pointmaze eval maps agree)."""


class AdiffPointMazeEnv(PointMazeEnv):
    """gymnasium-robotics' ``PointMazeEnv`` with D4RL's maze2d evaluation protocol (module doc).

    Args:
        maze_map: a grid in gymnasium-robotics' convention; overrides ``layout``.
        layout: a file name in ``envs/mazes/`` (``"umaze"``, ``"medium.txt"``) or a path.
            Default ``"umaze.txt"`` when neither is given.
        goal_cell: ``(row, col)`` of the evaluation goal, overriding the rules above.
        coins: ``(row, col)`` cells holding a gold coin (default none).
        coin_bonus: reward added the first time each coin is passed (default 10.0).
        continuing_task, reset_target: as in gymnasium-robotics (defaults True, False).
        render_mode: ``None`` or ``"rgb_array"`` (headless with ``MUJOCO_GL=egl``) or ``"human"``.
        reference_scores: ``{"ref_min_score", "ref_max_score", "layout", "goal_cell", "coins"}``
            as registration reads it from ``references.json``; the scores apply only when this
            env's layout, goal and coins equal the ones they were computed on.

    ``env.maze`` is the gymnasium-robotics ``Maze``; ``env.layout`` the validated grid;
    ``env.geometry`` its :class:`~adiff_env.maze.geometry.MazeGeometry`.
    """

    def __init__(
        self,
        maze_map: Sequence[Sequence[int | str]] | None = None,
        layout: str | Path | None = None,
        goal_cell: Sequence[int] | None = None,
        coins: Sequence[Sequence[int]] | None = None,
        coin_bonus: float = 10.0,
        continuing_task: bool = True,
        reset_target: bool = False,
        render_mode: str | None = None,
        reference_scores: dict[str, Any] | None = None,
    ) -> None:
        if render_mode is not None:
            _preload_triton()
        layout_obj, catalog_name = _load_layout(maze_map, layout)
        self.layout: MazeLayout = layout_obj
        self.start_cells: tuple[Cell, ...] = layout_obj.reset_cells or layout_obj.free
        self.eval_goal_cell: Cell = _choose_goal(layout_obj, goal_cell, catalog_name)
        check_reachable(layout_obj, self.eval_goal_cell, self.start_cells)
        self.goal_pool: tuple[Cell, ...] = layout_obj.goal_cells if len(layout_obj.goal_cells) > 1 else layout_obj.free
        self.coin_cells: tuple[Cell, ...] = _check_coins(layout_obj, coins, self.eval_goal_cell)
        if not float(coin_bonus) >= 0.0:
            raise ValueError(f"coin_bonus must be a non-negative number, got {coin_bonus!r}.")
        self.coin_bonus = float(coin_bonus)

        super().__init__(
            maze_map=layout_obj.as_lists(),
            render_mode=render_mode,
            reward_type="sparse",
            continuing_task=bool(continuing_task),
            reset_target=bool(reset_target),
        )
        try:  # gymnasium-robotics leaves its generated MJCF file in the temp dir; it is loaded now
            os.remove(self.tmp_xml_file_path)
        except OSError:
            pass
        self.geometry = MazeGeometry(layout_obj, self.maze.maze_size_scaling, self.maze.x_map_center,
                                     self.maze.y_map_center)
        self._eval_goal_xy = self._cell_xy(self.eval_goal_cell)
        self.goal = self._eval_goal_xy.copy()
        self.coin_positions = np.array([self._cell_xy(c) for c in self.coin_cells], dtype=np.float64).reshape(-1, 2)
        self.coins_collected = np.zeros(len(self.coin_cells), dtype=np.int8)
        if self.coin_cells:
            n = len(self.coin_cells)
            self.observation_space = spaces.Dict(
                dict(
                    **self.observation_space.spaces,
                    coin_positions=spaces.Box(-np.inf, np.inf, shape=(2 * n,), dtype=np.float64),
                    coins_collected=spaces.MultiBinary(n),
                )
            )
        self._reference = _matching_reference(reference_scores, layout_obj, self.eval_goal_cell, self.coin_cells)
        EzPickle.__init__(
            self,
            maze_map=layout_obj.as_lists(),
            goal_cell=self.eval_goal_cell,
            coins=[list(c) for c in self.coin_cells],
            coin_bonus=coin_bonus,
            continuing_task=continuing_task,
            reset_target=reset_target,
            render_mode=render_mode,
            reference_scores=reference_scores,
        )

    # ----------------------------------------------------------------------------- episode
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``options`` may hold ``goal_cell`` and/or ``reset_cell`` ``(row, col)``."""
        GoalEnv.reset(self, seed=seed)
        options = options or {}
        if options.get("goal_cell") is not None:
            self.goal = self._cell_xy(self._option_cell(options["goal_cell"], "goal_cell"))
        elif self.reset_target:
            self.goal = self._random_goal()
        else:
            self.goal = self._eval_goal_xy.copy()
        if options.get("reset_cell") is not None:
            start = self._option_cell(options["reset_cell"], "reset_cell")
        else:
            start = self.start_cells[int(self.np_random.integers(len(self.start_cells)))]
        qpos = self._cell_xy(start) + self.np_random.uniform(-RESET_POS_NOISE, RESET_POS_NOISE, size=2)
        qvel = self.np_random.normal(0.0, RESET_VEL_STD, size=2)
        self.reset_pos = qpos.copy()
        self.point_env.reset(seed=seed)
        self.point_env.set_state(qpos, qvel)
        self.update_target_site_pos()
        self.coins_collected[:] = 0
        point_obs = np.concatenate([self.point_env.data.qpos, self.point_env.data.qvel])
        obs = self._get_obs(point_obs)
        dist = math.hypot(point_obs[0] - self.goal[0], point_obs[1] - self.goal[1])
        return obs, self._info(dist <= GOAL_RADIUS, 0.0)

    def step(self, action):
        point_obs, _, _, _, _ = self.point_env.step(action)
        achieved = point_obs[:2]
        success = math.hypot(achieved[0] - self.goal[0], achieved[1] - self.goal[1]) <= GOAL_RADIUS
        bonus = self._collect_coins(achieved) if self.coin_cells else 0.0
        obs = self._get_obs(point_obs)
        info = self._info(success, bonus)
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        terminated = bool(success and not self.continuing_task)
        if success and self.continuing_task and self.reset_target:
            self._new_goal_away_from(achieved)
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, info

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray | np.float64:
        """``1.0`` where ``||achieved_goal - desired_goal|| <= 0.5`` (shape ``(...,)``), plus the
        step's ``info["coin_bonus"]`` (a dict, or one dict per row as SB3's HER passes them)."""
        dist = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        reward = (dist <= GOAL_RADIUS).astype(np.float64)
        if not self.coin_cells or info is None:
            return reward
        if isinstance(info, dict):
            return reward + float(info.get("coin_bonus", 0.0))
        return reward + np.array([float(i.get("coin_bonus", 0.0)) if i else 0.0 for i in info], dtype=np.float64)

    def compute_terminated(self, achieved_goal, desired_goal, info) -> bool:
        return bool(not self.continuing_task and np.linalg.norm(achieved_goal - desired_goal) <= GOAL_RADIUS)

    # ------------------------------------------------------------------- normalized score
    @property
    def get_normalized_score(self):
        """``get_normalized_score(return) -> float``: D4RL's ``(R - ref_min) / (ref_max - ref_min)``,
        0 = uniform random policy, 1 = D4RL's waypoint expert. Missing (``AttributeError``, so
        ``hasattr`` is False) when no reference scores match this layout (e.g. a custom map)."""
        if self._reference is None:
            raise AttributeError(
                "This maze has no reference scores (custom layout, goal or coins, or references.json lacks "
                "this id); run benchmarks/compute_maze_refs.py for registered ids."
            )
        return self._normalized_score

    def _normalized_score(self, episode_return: float) -> float:
        lo, hi = self._reference["ref_min_score"], self._reference["ref_max_score"]
        return float((episode_return - lo) / (hi - lo))

    def normalized_score_x100(self, episode_return: float) -> float:
        """The normalized score on the literature's x100 scale (Diffuser/D4RL tables)."""
        return 100.0 * self.get_normalized_score(episode_return)

    def planning_task(self) -> MazePlanningTask:
        """What the trajectory planner needs of this maze (:mod:`adiff_env.maze.task`)."""
        return MazePlanningTask(self.geometry)

    def task_reward(self, goal: Sequence[float] | None = None):
        """The part of this maze's step reward a goal-conditioned planner must be guided to, as
        a trajectory reward, from the env's current state: on a coin maze ``coin_bonus`` x
        ``CoinReward`` over the coins *not yet collected* (the goal term is left out: the plan
        is already conditioned on the goal, and a straight pull towards it crosses walls; measured
        on reset seeds 60000-60003 with ``subgoal_cells=2``, goal + coins guidance reached the goal in
        1 of 4 episodes); without coins the goal term ``GoalReward`` (share of steps within 0.5 of
        the goal, or of ``goal``). See :mod:`adiff_env.maze.rewards`; call it again after coins
        are taken to stop paying for them."""
        from adiff_env.evolve.rewards import Composite
        from adiff_env.maze.rewards import CoinReward, GoalReward

        if not self.coin_cells:
            return GoalReward(self.goal if goal is None else goal, GOAL_RADIUS)
        return Composite([(self.coin_bonus, CoinReward(self.coin_positions, COIN_RADIUS, collected=self.coins_collected))])

    def reward_factories(self) -> dict[str, Any]:
        """The maze's named rewards (``coins``, ``free-cells``, ``goal`` ...) plus plugins, for
        reward specs such as ``planner:NAME?reward=coins:1+free-cells:0.5``."""
        from adiff_env.maze.rewards import maze_reward_factories

        return maze_reward_factories()

    @property
    def reference_scores(self) -> dict[str, Any] | None:
        return None if self._reference is None else dict(self._reference)

    # ------------------------------------------------------------------------ internals
    def _cell_xy(self, cell: Sequence[int]) -> np.ndarray:
        return np.asarray(self.maze.cell_rowcol_to_xy(np.asarray(cell)), dtype=np.float64)

    def _option_cell(self, value: Any, key: str) -> Cell:
        cell = tuple(int(v) for v in np.asarray(value).reshape(-1))
        if len(cell) != 2 or not self.layout.is_free(cell):
            raise ValueError(f"options[{key!r}] must be a free (row, col) cell of this maze, got {value!r}.")
        return cell  # type: ignore[return-value]

    def _random_goal(self) -> np.ndarray:
        cell = self.goal_pool[int(self.np_random.integers(len(self.goal_pool)))]
        return self._cell_xy(cell) + self.np_random.uniform(-GOAL_POS_NOISE, GOAL_POS_NOISE, size=2)

    def _new_goal_away_from(self, achieved: np.ndarray) -> None:
        if len(self.goal_pool) < 2:
            return
        while np.linalg.norm(achieved - self.goal) <= GOAL_RADIUS:
            self.goal = self._random_goal()
        self.update_target_site_pos()

    def _collect_coins(self, achieved: np.ndarray) -> float:
        near = np.hypot(*(self.coin_positions - achieved).T) <= COIN_RADIUS
        new = near & (self.coins_collected == 0)
        if not new.any():
            return 0.0
        self.coins_collected[new] = 1
        return self.coin_bonus * int(new.sum())

    def _get_obs(self, point_obs: np.ndarray) -> dict[str, np.ndarray]:
        obs = {
            "observation": np.array(point_obs, dtype=np.float64),
            "achieved_goal": np.array(point_obs[:2], dtype=np.float64),
            "desired_goal": self.goal.copy(),
        }
        if self.coin_cells:
            obs["coin_positions"] = self.coin_positions.flatten()
            obs["coins_collected"] = self.coins_collected.copy()
        return obs

    def _info(self, success: bool, bonus: float) -> dict[str, Any]:
        info: dict[str, Any] = {"success": bool(success)}
        if self.coin_cells:
            info["coin_bonus"] = float(bonus)
            info["coin_positions"] = self.coin_positions.copy()
            info["coins_collected"] = self.coins_collected.copy()
        return info


def normalized_score_x100(env, episode_return: float) -> float:
    """``100 * env.unwrapped.get_normalized_score(return)``: the x100 scale of D4RL/Diffuser tables."""
    return 100.0 * env.unwrapped.get_normalized_score(episode_return)


def _preload_triton() -> None:
    """Import ``triton`` (if installed) before MuJoCo opens a Mesa GL context.

    Mesa's software renderer (EGL/OSMesa/GLX on a machine without a GPU driver) loads its own
    ``libLLVM``; a later ``import triton`` (torch optimizers pull it in through ``torch._dynamo``)
    then segfaults while loading triton's LLVM. Importing triton first avoids the crash
    (measured with Mesa 22.3, mujoco 3.11, torch 2.15; costs ~0.3 s once per process).
    """
    if importlib.util.find_spec("triton") is None:
        return
    try:
        import triton  # noqa: F401
    except Exception:  # a broken triton install must not stop rendering
        pass


def _load_layout(maze_map, layout) -> tuple[MazeLayout, str | None]:
    """Validated layout and, for a shipped file, its catalog name."""
    if maze_map is not None:
        return validate_layout(maze_map, "maze_map"), None
    path = resolve_layout_path(layout if layout is not None else "umaze.txt")
    shipped = asset_path("envs", "mazes", path.name)
    catalog = path.name if shipped.is_file() and shipped.resolve() == path.resolve() else None
    return validate_layout(read_layout_file(path), f"layout {str(path)!r}"), catalog


def _choose_goal(layout: MazeLayout, goal_cell, catalog_name: str | None) -> Cell:
    if goal_cell is not None:
        cell = tuple(int(v) for v in goal_cell)
        if len(cell) != 2 or not layout.is_free(cell):
            raise ValueError(f"goal_cell must be a free (row, col) cell of the maze, got {tuple(goal_cell)!r}.")
        return cell  # type: ignore[return-value]
    if layout.goal_cells:
        return layout.goal_cells[0]
    if catalog_name in D4RL_EVAL_GOALS:
        return D4RL_EVAL_GOALS[catalog_name]
    source = layout.reset_cells[0] if layout.reset_cells else layout.free[0]
    return farthest_cell(layout, source)


def _check_coins(layout: MazeLayout, coins, goal: Cell) -> tuple[Cell, ...]:
    if coins is None:
        return ()
    cells = []
    for coin in coins:
        cell = tuple(int(v) for v in coin)
        if len(cell) != 2 or not layout.is_free(cell):
            raise ValueError(f"coins: each coin must be a free (row, col) cell of the maze, got {tuple(coin)!r}.")
        cells.append(cell)
    if len(set(cells)) != len(cells):
        raise ValueError(f"coins: duplicate coin cells in {cells}.")
    check_reachable(layout, goal, cells, source="coins")
    return tuple(cells)  # type: ignore[arg-type]


def _matching_reference(ref, layout: MazeLayout, goal: Cell, coins: tuple[Cell, ...]) -> dict[str, Any] | None:
    """The reference scores if they were computed on exactly this layout, goal and coins."""
    if not ref or ref.get("ref_min_score") is None or ref.get("ref_max_score") is None:
        return None
    same = (
        ref.get("layout") == layout.to_text()
        and tuple(ref.get("goal_cell", ())) == goal
        and tuple(tuple(c) for c in ref.get("coins") or ()) == coins
    )
    return dict(ref) if same else None
