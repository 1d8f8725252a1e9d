"""Teacher pools drawn under the conditioning the agent acts with (on-policy distillation inputs).

Why: a planner with subgoals and a geodesic deadline (``act.subgoal_cells``, ``act.deadline``)
never plans from a dataset window's conditioning. It plans from its current state (any
velocity) to the point ``k`` steps of the task's route ahead, with the goal index ``j`` its
deadline leaves (on PointMaze-Large, ``subgoal_cells = 2``: ``j`` between 1 and ~30 of 384
rows, counting down by ``replan_every`` between subgoal changes), while a window's hindsight goal
index is uniform in ``[min_goal_index, H - 1]``. A student distilled on windows alone sees that
regime in a few percent of its pool; the shipped Large one fitted the windows (end-point MSE
below the teacher's own DDIM-1 there) yet strayed twice as far as DDIM-1 from the teacher's
DDIM-10 plans under acting conditions and reached no goal (docs/guidance-and-distillation.md).

What: :func:`record_acting_conditions` rolls the teacher out on its env (with a cheap sampler,
by default DDIM-1, whose states are close to the teacher's own), from reset seed
``PoolConfig.rollout_seed`` on, and records ``(state, goal, steps_left)`` of every plan it makes;
:func:`acting_source` turns those into the ``[n, H, D]`` inpainting and ``[n, C]`` global
condition the planner itself samples with (its ``conditioner`` and
:func:`~adiff_env.planners.parts.global_condition`); :func:`mixed_source` mixes them with
dataset windows in the share ``PoolConfig.acting_share``. The teacher then runs its DDIM-N on
these conditions (:func:`~adiff_env.diffusion.distill.teacher_pool`) as on windows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from adiff_env.diffusion import Inpainting
from adiff_env.diffusion.distill import ConditionSource, TeacherPool
from adiff_env.diffusion.schedulers import SCHEDULERS
from adiff_env.errors import UnknownNameError
from adiff_env.planners.parts import global_condition
from adiff_env.planners.trajectory import TrajectoryPlanner


@dataclass(frozen=True)
class PoolConfig:
    """Where the teacher pool's conditions come from."""

    acting_share: float = 0.0  # share of the teacher pool drawn under acting conditions (0 = dataset windows only, 1 = acting only)
    rollout_sampler: str = "ddim"  # sampler the teacher acts with while its acting conditions are recorded
    rollout_steps: int = 1  # sampler steps of those rollouts
    rollout_agent: str = ""  # record the acting conditions of this planner (e.g. an earlier student, with its own sampler; DAgger-style) instead of the teacher's; it must share the teacher's dims and normalizer
    rollout_seed: int = 90_000  # env reset seed of the first recording episode (then +1 per episode)

    def __post_init__(self) -> None:
        if not 0.0 <= self.acting_share <= 1.0:
            raise ValueError(f"PoolConfig.acting_share must be in [0, 1] (0 = dataset windows only, 1 = acting "
                             f"conditions only), got {self.acting_share}.")
        if self.rollout_sampler not in SCHEDULERS:
            raise UnknownNameError("rollout sampler", self.rollout_sampler, SCHEDULERS)
        if self.rollout_steps < 1:
            raise ValueError(f"PoolConfig.rollout_steps must be >= 1, got {self.rollout_steps}.")
        if self.rollout_seed < 0:
            raise ValueError(f"PoolConfig.rollout_seed must be >= 0, got {self.rollout_seed}.")


@dataclass
class ActingConditions:
    """Recorded plan requests: ``states [N, O]``, ``goals [N, G]`` (the goal or subgoal each plan
    was conditioned on) and ``steps_left [N]`` (its deadline, before clipping to the horizon);
    ``episodes`` run, their reset seeds ``seeds`` and the wall time ``wall_s``."""

    states: np.ndarray
    goals: np.ndarray
    steps_left: np.ndarray
    episodes: int = 0
    seeds: list[int] = field(default_factory=list)
    wall_s: float = 0.0

    def __len__(self) -> int:
        return len(self.states)


class _RecordingPlanner(TrajectoryPlanner):
    """The teacher acting as always; every ``plan`` request is also recorded."""

    requests: list[tuple[np.ndarray, np.ndarray, int]]

    def plan(self, s: np.ndarray, goal: np.ndarray, steps_left: int) -> np.ndarray:
        self.requests.append((np.array(s, dtype=np.float64), np.array(goal, dtype=np.float64), int(steps_left)))
        return super().plan(s, goal, steps_left)


def record_acting_conditions(checkpoint: Any, n: int, config: PoolConfig, *, seed: int = 0, device: str = "cpu",
                             progress: bool = False, max_episodes: int = 10_000,
                             own_sampler: bool = False) -> tuple[ActingConditions, TrajectoryPlanner]:
    """Roll the planner ``checkpoint`` (the teacher) out on its env (``checkpoint.metadata.env``)
    with ``config.rollout_sampler``/``rollout_steps`` (with ``own_sampler``: its own acting
    settings, e.g. a student's) until it has made ``n`` plans; returns the recorded conditions
    (the first ``n``) and the rollout planner (whose ``conditioner`` builds their inpainting).
    ``seed`` seeds the rollout planner's sampling noise."""
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ env ids)

    if n < 1:
        raise ValueError(f"record_acting_conditions needs n >= 1 conditions, got {n}.")
    env_id = checkpoint.metadata.env
    if not env_id:
        raise ValueError(f"{checkpoint.spec} records no env (metadata.env); acting conditions need the env it acts on.")
    env = gym.make(env_id)
    tic = time.perf_counter()
    try:
        overrides = {} if own_sampler else {"sampler": config.rollout_sampler, "sampler_steps": config.rollout_steps}
        planner = cast(_RecordingPlanner, _RecordingPlanner.from_checkpoint(checkpoint, env, device=device, seed=seed,
                                                                            **overrides))
        planner.requests = []
        seeds: list[int] = []
        bar = tqdm(total=n, desc="acting conditions", disable=not progress, leave=False)
        while len(planner.requests) < n:
            if len(seeds) >= max_episodes:
                raise RuntimeError(f"{len(seeds)} episodes made only {len(planner.requests)} of {n} plans.")
            seeds.append(config.rollout_seed + len(seeds))
            obs, _ = env.reset(seed=seeds[-1])
            planner.reset()
            done = False
            while not done and len(planner.requests) < n:
                before = len(planner.requests)
                action, _ = planner.predict(obs)
                obs, _, terminated, truncated, _ = env.step(action)
                done = bool(terminated or truncated)
                bar.update(len(planner.requests) - before)
        bar.close()
    finally:
        env.close()
    req = planner.requests[:n]
    record = ActingConditions(np.stack([r[0] for r in req]), np.stack([r[1] for r in req]),
                              np.array([r[2] for r in req], dtype=np.int64), len(seeds), seeds,
                              time.perf_counter() - tic)
    return record, planner


def acting_inputs(planner: TrajectoryPlanner, states: np.ndarray, goals: np.ndarray,
                  steps_left: np.ndarray) -> tuple[Inpainting, torch.Tensor | None]:
    """The batched inpainting ``[n, H, D]`` and global condition ``[n, O + G + 1]`` (None
    without one) that ``planner`` samples its plans with for these requests, exactly as its
    ``sample_plans``/``plan_batch`` build them (one sample per request)."""
    conds = [planner.conditioner(s, g, int(j)) for s, g, j in zip(states, goals, steps_left)]
    inpaint = Inpainting(torch.stack([c.mask for c in conds]), torch.stack([c.values for c in conds]))
    if not planner.global_cond:
        return inpaint, None
    a, cols = planner.action_dim, planner._goal_cols
    js = [int(np.clip(j, 1, planner.horizon - 1)) for j in steps_left]
    vector = global_condition(torch.stack([c.values[0, a:] for c in conds]),
                              torch.stack([c.values[j, cols] for c, j in zip(conds, js)]),
                              torch.tensor(js), planner.horizon)
    return inpaint, vector


def acting_source(planner: TrajectoryPlanner, record: ActingConditions) -> ConditionSource:
    """A condition source over ``record``: each call takes the next ``n`` recorded requests in
    an order shuffled by the generator at the first call (each request once per pass)."""
    order: list[int] = []

    def draw(n: int, generator: torch.Generator) -> tuple[Inpainting, torch.Tensor | None]:
        idx: list[int] = []
        while len(idx) < n:
            if not order:
                order.extend(torch.randperm(len(record), generator=generator).tolist())
            idx.append(order.pop(0))
        return acting_inputs(planner, record.states[idx], record.goals[idx], record.steps_left[idx])

    return draw


def mixed_source(acting: ConditionSource, windows: ConditionSource | None, acting_share: float) -> ConditionSource:
    """``round(n * acting_share)`` conditions of each batch from ``acting``, the rest from
    ``windows`` (acting first); ``windows`` may be None only with ``acting_share = 1``."""
    if windows is None and acting_share < 1.0:
        raise ValueError(f"mixed_source needs a windows source for acting_share {acting_share} < 1.")

    def draw(n: int, generator: torch.Generator) -> tuple[Inpainting, torch.Tensor | None]:
        k = int(round(n * acting_share))
        parts = ([acting(k, generator)] if k else []) + ([windows(n - k, generator)] if k < n and windows else [])
        if len(parts) == 1:
            return parts[0]
        (ia, ca), (iw, cw) = parts
        vector = None if ca is None or cw is None else torch.cat([ca, cw])
        return Inpainting(torch.cat([ia.mask, iw.mask]), torch.cat([ia.values, iw.values])), vector

    return draw


def goal_indices(mask: torch.Tensor) -> torch.Tensor:
    """The goal index ``j`` ``[N]`` of each planner inpainting mask ``[N, H, D]``: the first row
    after the start row with a pinned entry (the planner pins only the start row and rows ``j..``);
    ``H`` where no later row is pinned."""
    later = mask[:, 1:, :].any(dim=-1)  # [N, H - 1]
    first = later.to(torch.int64).argmax(dim=1) + 1
    return torch.where(later.any(dim=1), first, torch.full_like(first, mask.shape[1]))


def shorten_pool(pool: TeacherPool, horizon: int, teacher_horizon: int, global_cond: bool) -> tuple[TeacherPool, int]:
    """The first ``horizon`` rows of a teacher pool drawn at ``teacher_horizon``, for a student
    that plans ``horizon`` rows: only the entries whose goal index ``j`` is below ``horizon``
    are kept (for them every row from ``j`` on rests at the goal in the teacher's plan, so the
    cut loses no planned motion), and the global condition's goal fraction ``j / H`` is
    rescaled to the student's ``j / horizon`` (:func:`~adiff_env.planners.parts.global_condition`).
    Returns the shortened pool and the number of entries dropped."""
    if not 1 < horizon <= teacher_horizon:
        raise ValueError(f"the student's horizon must be in [2, {teacher_horizon}] (the teacher's), got {horizon}.")
    if horizon == teacher_horizon:
        return pool, 0
    keep = goal_indices(pool.mask) < horizon
    cond = None
    if pool.cond is not None and global_cond:
        cond = pool.cond[keep].clone()
        cond[:, -1] = cond[:, -1] * (teacher_horizon / horizon)
    elif pool.cond is not None:
        cond = pool.cond[keep]
    short = TeacherPool(pool.chain[keep][:, :, :horizon].contiguous(), pool.mask[keep][:, :horizon].contiguous(),
                        pool.values[keep][:, :horizon].contiguous(), cond, pool.timesteps)
    if len(short) == 0:
        raise ValueError(f"no teacher-pool entry has a goal index below the student's horizon {horizon}; "
                         f"use a longer student horizon (the teacher's is {teacher_horizon}).")
    return short, int((~keep).sum())


def conditioning_planner(checkpoint: Any, device: str = "cpu") -> TrajectoryPlanner:
    """A planner of ``checkpoint`` on its env, used only for its ``conditioner`` (to build the
    teacher's inputs for requests recorded by a planner of another horizon)."""
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ env ids)

    env = gym.make(checkpoint.metadata.env)
    try:
        return TrajectoryPlanner.from_checkpoint(checkpoint, env, device=device)
    finally:
        env.close()
