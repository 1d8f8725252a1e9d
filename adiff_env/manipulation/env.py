"""Fetch push and pick-and-place on gymnasium-robotics' MuJoCo ``FetchPush-v4`` / ``FetchPickAndPlace-v4``.

What these classes change in the gymnasium-robotics envs (everything else, the dynamics, the
25-dim observation, the 4-dim action ``[dx, dy, dz, gripper]`` in ``[-1, 1]`` and the 50-step
time limit, is Fetch's own):

* rewards are Python ``float`` (Fetch returns ``np.float32``): sparse ``-1.0`` until the object
  is within 0.05 m of the goal, ``0.0`` there; ``compute_reward`` returns ``float64``;
* ``info["is_success"]`` is a ``bool`` (Fetch: ``np.float32``) and ``reset`` reports it too;
  the evaluation protocol counts success at the **last** step of an episode;
* ``reset(options={"goal": [x, y, z]})`` pins the goal for one episode (unseen-goal tests);
* ``get_normalized_score(return)`` with random / expert references from
  ``envs/manipulation/references.json`` (``benchmarks/compute_fetch_refs.py``), present only when
  the references were computed on this env's configuration (goal region, zone); they hold for
  the registered 50-step episodes.

:class:`AdiffFetchPickAndPlaceEnv` takes ``goal_region``:

* ``"table"``: goals on the table (``z`` = the block's resting height);
* ``"air"``: goals above it, ``z`` offset uniform in ``(0.05, 0.45]`` m;
* ``"both"`` (default, Fetch's rule): air with probability 0.5, offset uniform in ``[0, 0.45)``.

:class:`AdiffFetchPushAvoidEnv` adds a forbidden disc on the table (``zone_center`` ``(x, y)``,
default the gripper's start ``(x, y)``; ``zone_radius`` default 0.05 m): every step the block's
centre is inside it costs ``zone_cost`` (default 1.0) on top of the sparse reward. The zone is in
the observation (``forbidden_zone`` = ``[x, y, radius]``) and in ``info`` (``forbidden_zone``,
``in_zone``, ``zone_cost`` = this step's cost). ``compute_reward(ag, dg, info)`` recomputes the
cost from ``achieved_goal`` (the block position), so HER relabelling stays exact. Goals are drawn
at least ``radius + 0.05`` m from the zone centre and the block never starts inside it.
``task_reward()`` returns the trajectory reward a planner can be guided by
(:class:`adiff_env.manipulation.rewards.FetchTaskReward`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils.ezpickle import EzPickle
from gymnasium_robotics.envs.fetch.pick_and_place import MujocoFetchPickAndPlaceEnv
from gymnasium_robotics.envs.fetch.push import MujocoFetchPushEnv

from adiff_env.errors import UnknownNameError
from adiff_env.manipulation.task import FetchPlanningTask

DISTANCE_THRESHOLD = 0.05
"""Fetch's success distance (m) between the block and the goal."""
GOAL_REGIONS = ("table", "air", "both")
AIR_OFFSET_LOW, AIR_OFFSET_HIGH = 0.05, 0.45
"""``goal_region="air"``: the goal's height above the table is uniform in ``(0.05, 0.45]`` m."""
ZONE_GOAL_MARGIN = 0.05
"""Goals and block starts keep at least ``zone_radius + 0.05`` m from the zone centre."""


class _FetchMixin:
    """Shared changes to gymnasium-robotics' Fetch envs (see the module docstring)."""

    success_at_last_step = True
    """Read by :func:`adiff_env.evaluation.run_episodes`: an episode succeeds if its last step does."""

    def _adiff_init(self, render_mode: str | None, reference_scores: dict[str, Any] | None) -> None:
        if render_mode is not None:
            _preload_triton()
        self._reference = _matching_reference(reference_scores, self._reference_config())

    def _reference_config(self) -> dict[str, Any]:
        return {}

    def planning_task(self) -> FetchPlanningTask:
        """What the trajectory planner needs of this task (:mod:`adiff_env.manipulation.task`)."""
        return FetchPlanningTask()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Fetch's reset; ``options={"goal": [x, y, z]}`` pins this episode's goal."""
        obs, _ = super().reset(seed=seed)  # type: ignore[misc]
        goal = (options or {}).get("goal")
        if goal is not None:
            arr = np.asarray(goal, dtype=np.float64).reshape(-1)
            if arr.shape != (3,) or not np.all(np.isfinite(arr)):
                raise ValueError(f"options['goal'] must be a finite [x, y, z] position, got {goal!r}.")
            self.goal = arr.copy()
            obs = self._get_obs()
        return obs, self._reset_info(obs)

    def _reset_info(self, obs: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"is_success": bool(self._is_success(obs["achieved_goal"], self.goal))}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)  # type: ignore[misc]
        info["is_success"] = bool(info["is_success"])
        return obs, float(reward), bool(terminated), bool(truncated), info

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray | np.float64:
        """``-1.0`` where ``||achieved_goal - desired_goal|| > 0.05`` else ``0.0``; shape ``(...,)``."""
        d = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        out = -(d > self.distance_threshold).astype(np.float64)
        return out if out.ndim else np.float64(out)

    # ------------------------------------------------------------------- normalized score
    @property
    def get_normalized_score(self):
        """``get_normalized_score(return) -> float``: ``(R - ref_min) / (ref_max - ref_min)``,
        0 = uniform random policy, 1 = the scripted expert (50-step episodes). Missing
        (``AttributeError``) when no references match this configuration."""
        if self._reference is None:
            raise AttributeError(
                "This Fetch env has no reference scores for its configuration; run "
                "benchmarks/compute_fetch_refs.py for the registered ids."
            )
        return self._normalized_score

    def _normalized_score(self, episode_return: float) -> float:
        lo, hi = self._reference["ref_min_score"], self._reference["ref_max_score"]
        return float((episode_return - lo) / (hi - lo))

    @property
    def reference_scores(self) -> dict[str, Any] | None:  # type: ignore[override]
        return None if self._reference is None else dict(self._reference)


class AdiffFetchPushEnv(_FetchMixin, MujocoFetchPushEnv):
    """``FetchPush-v4`` with float rewards, bool success and reset goals (module doc).

    Args:
        render_mode: ``None``, ``"rgb_array"`` (headless with ``MUJOCO_GL=egl``) or ``"human"``.
        reference_scores: ``{"ref_min_score", "ref_max_score", "config"}`` (or a list of them, one
            per configuration) as registration reads them from ``references.json``; an entry is
            used only if its ``config`` equals this env's (e.g. ``{"goal_region": "air"}``).
        **kwargs: Fetch's own (``width``, ``height``, ``default_camera_config``).
    """

    def __init__(self, render_mode: str | None = None, reference_scores: Any = None,
                 **kwargs: Any) -> None:
        MujocoFetchPushEnv.__init__(self, reward_type="sparse", render_mode=render_mode, **kwargs)
        self._adiff_init(render_mode, reference_scores)
        EzPickle.__init__(self, render_mode=render_mode, reference_scores=reference_scores, **kwargs)


class AdiffFetchPickAndPlaceEnv(_FetchMixin, MujocoFetchPickAndPlaceEnv):
    """``FetchPickAndPlace-v4`` with a goal region (``"table"``, ``"air"``, ``"both"``; module doc)."""

    def __init__(self, goal_region: str = "both", render_mode: str | None = None,
                 reference_scores: Any = None, **kwargs: Any) -> None:
        if goal_region not in GOAL_REGIONS:
            raise UnknownNameError("goal region", str(goal_region), GOAL_REGIONS)
        self.goal_region = goal_region
        MujocoFetchPickAndPlaceEnv.__init__(self, reward_type="sparse", render_mode=render_mode, **kwargs)
        self._adiff_init(render_mode, reference_scores)
        EzPickle.__init__(self, goal_region=goal_region, render_mode=render_mode,
                          reference_scores=reference_scores, **kwargs)

    def _reference_config(self) -> dict[str, Any]:
        return {"goal_region": self.goal_region}

    def _sample_goal(self) -> np.ndarray:
        if self.goal_region == "both":
            return super()._sample_goal()  # Fetch's own rule, draw for draw
        goal = self.initial_gripper_xpos[:3] + self.np_random.uniform(-self.target_range, self.target_range, size=3)
        goal[2] = self.height_offset
        if self.goal_region == "air":  # (0.05, 0.45]: 0.45 - U[0, 0.4)
            goal[2] += AIR_OFFSET_HIGH - self.np_random.uniform(0.0, AIR_OFFSET_HIGH - AIR_OFFSET_LOW)
        return goal.copy()


class AdiffFetchPushAvoidEnv(AdiffFetchPushEnv):
    """Push with a forbidden disc on the table (module doc).

    Args:
        zone_center: ``(x, y)`` of the disc; default the gripper's start position.
        zone_radius: disc radius in m (default 0.05; > 0).
        zone_cost: cost per step with the block's centre inside the disc (default 1.0; >= 0).
    """

    def __init__(self, zone_center: Sequence[float] | None = None, zone_radius: float = 0.05,
                 zone_cost: float = 1.0, render_mode: str | None = None,
                 reference_scores: Any = None, **kwargs: Any) -> None:
        if zone_center is not None:
            center = np.asarray(zone_center, dtype=np.float64).reshape(-1)
            if center.shape != (2,) or not np.all(np.isfinite(center)):
                raise ValueError(f"zone_center must be a finite (x, y) pair, got {zone_center!r}.")
        if not (isinstance(zone_radius, (int, float)) and 0.0 < float(zone_radius) < 0.15):
            raise ValueError(f"zone_radius must be a number in (0, 0.15) m, got {zone_radius!r}.")
        if not (isinstance(zone_cost, (int, float)) and float(zone_cost) >= 0.0 and np.isfinite(zone_cost)):
            raise ValueError(f"zone_cost must be a finite number >= 0, got {zone_cost!r}.")
        self._zone_center_arg = None if zone_center is None else [float(v) for v in np.asarray(zone_center).reshape(2)]
        self.zone_radius = float(zone_radius)
        self.zone_cost = float(zone_cost)
        self.zone_center = np.zeros(2)
        super().__init__(render_mode=render_mode, reference_scores=reference_scores, **kwargs)
        zone_box = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64)
        self.observation_space = spaces.Dict(dict(**self.observation_space.spaces, forbidden_zone=zone_box))
        EzPickle.__init__(self, zone_center=self._zone_center_arg, zone_radius=zone_radius, zone_cost=zone_cost,
                          render_mode=render_mode, reference_scores=reference_scores, **kwargs)

    @property
    def forbidden_zone(self) -> np.ndarray:
        """``[x, y, radius]`` of the forbidden disc, shape ``(3,)``."""
        return np.array([self.zone_center[0], self.zone_center[1], self.zone_radius], dtype=np.float64)

    def _reference_config(self) -> dict[str, Any]:
        return {"zone": [round(float(v), 6) for v in self.forbidden_zone], "zone_cost": self.zone_cost}

    def _env_setup(self, initial_qpos) -> None:
        super()._env_setup(initial_qpos)
        center = self.initial_gripper_xpos[:2] if self._zone_center_arg is None else self._zone_center_arg
        self.zone_center = np.array(center, dtype=np.float64)

    def _reset_sim(self) -> bool:
        if not super()._reset_sim():
            return False
        block = self._utils.get_site_xpos(self.model, self.data, "object0")[:2]
        return bool(np.linalg.norm(block - self.zone_center) > self.zone_radius + ZONE_GOAL_MARGIN)

    def _sample_goal(self) -> np.ndarray:
        while True:
            goal = super()._sample_goal()
            if np.linalg.norm(goal[:2] - self.zone_center) > self.zone_radius + ZONE_GOAL_MARGIN:
                return goal

    def in_zone(self, achieved_goal) -> np.ndarray:
        """Whether each block position ``[..., 3]`` has its ``(x, y)`` inside the disc, ``[...]``."""
        xy = np.asarray(achieved_goal, dtype=np.float64)[..., :2]
        return np.linalg.norm(xy - self.zone_center, axis=-1) < self.zone_radius

    def _get_obs(self) -> dict[str, np.ndarray]:
        obs = super()._get_obs()
        obs["forbidden_zone"] = self.forbidden_zone
        return obs

    def _reset_info(self, obs):
        info = super()._reset_info(obs)
        return {**info, **self._zone_info(obs["achieved_goal"])}

    def _zone_info(self, achieved_goal) -> dict[str, Any]:
        inside = bool(self.in_zone(achieved_goal))
        return {"forbidden_zone": self.forbidden_zone, "in_zone": inside,
                "zone_cost": self.zone_cost if inside else 0.0}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)  # reward: compute_reward below
        info.update(self._zone_info(obs["achieved_goal"]))
        return obs, reward, terminated, truncated, info

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray | np.float64:
        """Fetch's sparse reward minus ``zone_cost`` where the block is inside the disc."""
        base = super().compute_reward(achieved_goal, desired_goal, info)
        cost = self.zone_cost * self.in_zone(achieved_goal).astype(np.float64)
        out = base - cost
        return out if np.ndim(out) else np.float64(out)

    def task_reward(self, goal: Sequence[float] | None = None):
        """The trajectory reward of this task for a planner (goal term + zone cost), see
        :class:`adiff_env.manipulation.rewards.FetchTaskReward`."""
        from adiff_env.manipulation.rewards import FetchTaskReward

        if goal is None and np.size(self.goal) != 3:
            raise RuntimeError("task_reward() needs this episode's goal: call env.reset() first (a planner guided by "
                               "reward=task must be built on, or bound to, the env it acts on).")
        return FetchTaskReward(goal=self.goal if goal is None else goal, zone=self.forbidden_zone,
                               zone_cost=self.zone_cost, threshold=self.distance_threshold)


def _matching_reference(ref: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """The reference entry (one dict, or the first of a list) computed on exactly this configuration."""
    for entry in ref if isinstance(ref, list) else [ref]:
        if not entry or entry.get("ref_min_score") is None or entry.get("ref_max_score") is None:
            continue
        if (entry.get("config") or {}) == config:
            return dict(entry)
    return None


def _preload_triton() -> None:
    """Import ``triton`` (if installed) before MuJoCo opens a Mesa GL context: Mesa's software
    renderer loads its own ``libLLVM`` and a later ``import triton`` then segfaults (the maze env
    does the same; see ``adiff_env.maze.env._preload_triton``)."""
    if importlib.util.find_spec("triton") is None:
        return
    try:
        import triton  # noqa: F401
    except Exception:  # a broken triton install must not stop rendering
        pass
