"""/v1/plan behind the batcher: a cache of planners and the batch function.

A planner is built per (model, env id, sampler, steps, candidates) from one registry load per
model: ``TrajectoryPlanner.from_checkpoint(ModelRegistry().load(spec), gym.make(env_id))``
(the env gives the maze map for deadlines). Everything here runs on the single sampler thread
(torch is imported there, lazily), so no two torch calls overlap.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from adiff_env.api.config import ServeConfig

KIND = "trajectory-planner"


class FieldError(ValueError):
    """A request field the model or env rejects (answered as 422 naming ``loc``)."""

    def __init__(self, loc: tuple[str, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc, self.msg = loc, msg

    def __reduce__(self) -> tuple:  # it crosses the pipe from the sampler process
        return (FieldError, (self.loc, self.msg))


class NotFound(LookupError):
    """An unknown model or env (answered as 404 with the message listing the options)."""


@dataclass(frozen=True)
class PlanKey:
    model: str  # pinned NAME@vK
    env_id: str
    sampler: str | None
    steps: int | None
    candidates: int | None
    seed: int | None = None  # seeded requests are batched only with themselves


@dataclass(frozen=True)
class PlanItem:
    observation: list[float]
    goal: list[float]


@dataclass
class PlanResult:
    action: list[float]
    plan: np.ndarray
    steps_left: int
    model: str


def check_env_id(env_id: str) -> None:
    """Raise :class:`NotFound` (listing the ids) unless ``env_id`` is registered."""
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ env ids; no torch)
    from adiff_env.errors import UnknownNameError

    if env_id not in gym.registry:
        raise NotFound(str(UnknownNameError("env id", env_id, [k for k in gym.registry if k.startswith("adiff/")])))


class PlannerPool:
    """Planners by :class:`PlanKey`, least recently used dropped beyond ``max_planners``."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._planners: OrderedDict[PlanKey, Any] = OrderedDict()
        self._checkpoints: dict[str, Any] = {}
        self._envs: dict[str, Any] = {}
        self._pins: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._threads_set = False

    def cached_pin(self, spec: str) -> str | None:
        """The pinned spec from the cache (under a second old), else None (then call :meth:`pin`)."""
        with self._lock:
            hit = self._pins.get(spec)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < 1.0 else None

    def pin(self, spec: str) -> str:
        """``NAME`` -> ``NAME@vK`` (latest), cached for a second; raises :class:`NotFound`."""
        now = time.monotonic()
        with self._lock:
            hit = self._pins.get(spec)
        if hit is not None and now - hit[0] < 1.0:
            return hit[1]
        from adiff_env.errors import UnknownNameError
        from adiff_env.registry import ModelRegistry

        reg = ModelRegistry()
        name, _, version = spec.partition("@")
        try:
            versions = reg.versions(name)
            if not versions:
                raise UnknownNameError("model", name, reg.list_models())
            if version and int(version[1:]) not in versions:
                raise UnknownNameError(f"version of {name}", version, [f"v{v}" for v in versions])
        except UnknownNameError as exc:
            raise NotFound(str(exc)) from None
        pinned = spec if version else f"{name}@v{versions[-1]}"
        with self._lock:
            self._pins[spec] = (now, pinned)
        return pinned

    def _env(self, env_id: str) -> Any:
        env = self._envs.get(env_id)
        if env is None:
            import gymnasium as gym

            check_env_id(env_id)
            env = self._envs[env_id] = gym.make(env_id)
        return env

    def planner(self, key: PlanKey) -> Any:
        if not self._threads_set:
            import torch

            torch.set_num_threads(self.config.threads)
            self._threads_set = True
        key = dataclasses.replace(key, seed=None)  # one planner serves every seed
        planner = self._planners.get(key)
        if planner is not None:
            self._planners.move_to_end(key)
            return planner
        from adiff_env.planners.trajectory import TrajectoryPlanner
        from adiff_env.registry import CheckpointError, ModelRegistry

        env = self._env(key.env_id)
        checkpoint = self._checkpoints.get(key.model)
        if checkpoint is None:
            try:
                checkpoint = ModelRegistry().load(key.model, kind=KIND)
            except CheckpointError as exc:
                raise FieldError(("body", "model"), str(exc)) from None
            self._checkpoints[key.model] = checkpoint
        overrides: dict[str, Any] = {}
        if key.sampler is not None:
            overrides["sampler"] = key.sampler
        if key.steps is not None:
            overrides["sampler_steps"] = key.steps
        if key.candidates is not None:
            overrides["n_samples"] = key.candidates
        try:
            planner = TrajectoryPlanner.from_checkpoint(checkpoint, env, device=self.config.device,
                                                        **overrides)
        except ValueError as exc:  # e.g. more sampler steps than the model was trained with
            raise FieldError(("body", "steps"), str(exc)) from None
        clamps = self.config.clamps  # a checkpoint's own defaults are held to the server's caps too
        if planner.sampler_steps > clamps.max_sampler_steps or planner.act.n_samples > clamps.max_candidates:
            planner.set_act(dataclasses.replace(planner.act, sampler_steps=min(planner.sampler_steps, clamps.max_sampler_steps),
                                                n_samples=min(planner.act.n_samples, clamps.max_candidates)))
        self._planners[key] = planner
        while len(self._planners) > self.config.max_planners:
            self._planners.popitem(last=False)
        return planner

    def run_batch(self, key: PlanKey, items: list[PlanItem]) -> list[PlanResult | Exception]:
        """Plans for ``items`` in one ``plan_batch`` call; a bad item gets its own error."""
        planner = self.planner(key)
        if key.seed is not None:
            planner.generator.manual_seed(key.seed)
        good, steps_left, out = [], [], [None] * len(items)
        for i, item in enumerate(items):
            if len(item.observation) != planner.obs_dim:
                out[i] = FieldError(("body", "observation"), f"observation has {len(item.observation)} values; "
                                    f"{key.model} plans over states of {planner.obs_dim} ([x, y, vx, vy]).")
                continue
            if len(item.goal) != 2:
                out[i] = FieldError(("body", "goal"), f"goal has {len(item.goal)} values; the maze goal is [x, y].")
                continue
            bad = _outside_maze(planner, item)
            if bad:
                out[i] = FieldError(("body", bad), f"{bad} is not inside a free cell of {key.env_id}'s maze.")
                continue
            try:
                steps_left.append(int(planner.initial_deadline(np.asarray(item.observation, dtype=np.float64), np.asarray(item.goal))))
            except Exception as exc:  # noqa: BLE001  (e.g. a position outside the maze: no grid cell)
                out[i] = FieldError(("body", "observation"), f"no path from the observation to the goal: {exc}")
                continue
            good.append(i)
        if good:
            s = np.asarray([items[i].observation for i in good], dtype=np.float64)
            g = np.asarray([items[i].goal for i in good], dtype=np.float64)
            plans = planner.plan_batch(s, g, steps_left)
            for j, i in enumerate(good):
                action = planner.action_from_plan(s[j], plans[j], 0)
                out[i] = PlanResult([float(a) for a in action], plans[j], min(steps_left[j], planner.horizon - 1),
                                    key.model)
        return out


def _outside_maze(planner: Any, item: PlanItem) -> str | None:
    """``"observation"`` or ``"goal"`` when that position lies outside the maze's free cells."""
    geometry = getattr(planner.task, "geometry", None)  # a maze task knows its walls
    if geometry is None:
        return None
    for name, xy in (("observation", item.observation[:2]), ("goal", item.goal)):
        if geometry.in_wall(np.asarray(xy, dtype=np.float64)[None])[0]:
            return name
    return None
