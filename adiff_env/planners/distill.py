"""Distil a trained trajectory planner into a one/two-step planner (a new registry version).

``distill_planner("pointmaze-umaze", name="pointmaze-umaze-distilled")``::

    teacher checkpoint (registry) -> its dataset's windows (SegmentDataset, the checkpoint's
    normalizer) -> the training conditioning (start state at index 0, resting goal rows from
    the window's goal index j, global condition [start, goal, j / H])
       and/or, with ``PoolConfig.acting_share`` > 0, the teacher's own acting conditions
       (its rollouts on the env: state, subgoal and deadline of every plan it makes;
       adiff_env.planners.distill_pool)
    -> teacher DDIM-N trajectories (adiff_env.diffusion.distill.teacher_pool)
    -> a student denoiser (default: a U-Net of dim 16, ~4x fewer parameters) trained to map
       every trajectory point to the teacher's end point (adiff_env.diffusion.distill.distill)
    -> ModelRegistry.save(name): the teacher's config with the student's model spec,
       prediction "x0", act.sampler "consistency" and act.sampler_steps 1 (or 2); metadata
       parent = the teacher's spec; the teacher's inverse-dynamics weights are kept.

A planner loaded from the new version samples with
:class:`~adiff_env.diffusion.schedulers.ConsistencyScheduler` through the same
``make_scheduler(act.sampler, ...)`` call as DDIM, so no planner code changes.
``--sampler ddim --steps 10`` on a distilled planner runs its student as if it were a
diffusion model (meaningless beyond 2 steps; for comparisons use the teacher).

Run: ``uv run python -m adiff_env.planners.distill pointmaze-umaze --name pointmaze-umaze-distilled``.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from adiff_env.datasets.normalizers import normalizer_from_dict
from adiff_env.datasets.segments import SegmentDataset
from adiff_env.diffusion import build_model, model_spec, schedule_from_dict
from adiff_env.diffusion.distill import DistillConfig, DistillResult, distill, teacher_pool
from adiff_env.planners.distill_pool import (
    PoolConfig,
    acting_source,
    conditioning_planner,
    mixed_source,
    record_acting_conditions,
    shorten_pool,
)
from adiff_env.planners.parts import global_condition
from adiff_env.planners.train import training_conditioner
from adiff_env.planners.trajectory import KIND
from adiff_env.registry import Checkpoint, CheckpointError, CheckpointMetadata, ModelRegistry, git_commit, load_weights

DEFAULT_STUDENT: dict[str, Any] = {"arch": "temporal_unet", "dim": 16, "dim_mults": [1, 2, 4]}


@dataclass
class DistilledPlanner:
    """What :func:`distill_planner` produced: the new checkpoint and the training figures."""

    checkpoint: Checkpoint
    teacher: str
    result: DistillResult
    student_parameters: int
    teacher_parameters: int


def _parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _teacher(checkpoint: Checkpoint) -> torch.nn.Module:
    if checkpoint.metadata.kind != KIND:
        raise CheckpointError(f"{checkpoint.path} holds a {checkpoint.metadata.kind!r}, not a {KIND!r}; distil a planner.")
    model = build_model(checkpoint.config["model"])
    load_weights(model, {k[6:]: v for k, v in checkpoint.tensors.items() if k.startswith("model.")}, str(checkpoint.path))
    return model.eval()


def _rollout_checkpoint(registry: ModelRegistry, spec: str, teacher: Checkpoint) -> Checkpoint:
    """``PoolConfig.rollout_agent``'s checkpoint, checked to plan in the teacher's space."""
    roller = registry.load(spec, kind=KIND)
    dims, want = roller.config.get("dims") or {}, teacher.config.get("dims") or {}
    same = all(dims.get(k) == want.get(k) for k in ("action_dim", "obs_dim")) and "horizon" in dims
    same = same and roller.metadata.normalizer == teacher.metadata.normalizer
    if not same or roller.metadata.env != teacher.metadata.env:
        raise ValueError(f"rollout_agent {roller.spec} must plan in the teacher {teacher.spec}'s space (same env, dims "
                         f"and normalizer, e.g. an earlier student of it); got env {roller.metadata.env!r}, dims "
                         f"{roller.config.get('dims')} vs {teacher.metadata.env!r}, {teacher.config.get('dims')}.")
    return roller


def planner_conditions(data: SegmentDataset, action_dim: int, horizon: int, global_cond: bool):
    """A condition source for :func:`~adiff_env.diffusion.distill.teacher_pool`: ``n`` random
    training windows' inpainting ``[n, H, D]`` and global condition ``[n, O + 3]`` (or None),
    built exactly as in training (:func:`~adiff_env.planners.train.training_conditioner`)."""

    def draw(n: int, generator: torch.Generator):
        idx = torch.randint(0, len(data), (n,), generator=generator).tolist()
        batch = torch.utils.data.default_collate([data[i] for i in idx])
        x0, j = batch.trajectories, batch.goal_index
        inpaint = training_conditioner(x0, j, action_dim)
        vector = None
        if global_cond:
            rows = torch.arange(n)
            vector = global_condition(x0[:, 0, action_dim:], x0[rows, j, action_dim : action_dim + 2], j, horizon)
        return inpaint, vector

    return draw


def distill_planner(
    teacher: str | Checkpoint,
    *,
    name: str | None = None,
    sampler_steps: int = 1,
    eta: float = 0.0,
    student_model: dict[str, Any] | None = None,
    config: DistillConfig | None = None,
    registry: ModelRegistry | None = None,
    device: str = "cpu",
    progress: bool = True,
    init_from: str | Checkpoint | None = None,
    pool: PoolConfig | None = None,
    student_horizon: int | None = None,
) -> DistilledPlanner:
    """Distil ``teacher`` (a spec such as ``"pointmaze-umaze"`` or a loaded checkpoint) and
    save the student as a new version of ``name`` (default ``TEACHERNAME-distilled``).

    ``sampler_steps`` (1 or 2) and ``eta`` become the saved ``act`` settings of the
    consistency sampler; ``student_model`` is ``{"arch": ..., **config}`` without the data-set
    dimensions (default :data:`DEFAULT_STUDENT`); ``config`` the distillation settings.
    ``init_from``: continue from an earlier distilled version's student (its architecture is
    used; with a new ``config.seed`` the teacher pool is drawn afresh). ``pool``: where the
    teacher pool's conditions come from (default :class:`PoolConfig()`: dataset windows only;
    ``acting_share = 1``: only the teacher's own acting conditions, no dataset read).
    ``student_horizon`` (default: ``init_from``'s, else the teacher's): the student plans this many rows; the teacher
    pool is drawn at the teacher's horizon and cut to it, keeping only the conditions whose goal
    index lies below it (:func:`~adiff_env.planners.distill_pool.shorten_pool`). For planners
    that act with near subgoals (``act.subgoal_cells``; deadlines of ~1-40 steps) this makes
    the one-step student's forward several times cheaper; requests with a later deadline are
    clipped to the student's last row when it acts, as every planner clips them to its horizon.
    """
    if sampler_steps not in (1, 2):
        raise ValueError(f"sampler_steps must be 1 or 2 (one- or two-step consistency sampling), got {sampler_steps}.")
    registry = registry or ModelRegistry()
    ckpt = teacher if isinstance(teacher, Checkpoint) else registry.load(teacher, kind=KIND)
    config = config or DistillConfig()
    pool = pool or PoolConfig()
    roller = ckpt if not pool.rollout_agent else _rollout_checkpoint(registry, pool.rollout_agent, ckpt)
    cfg = ckpt.config
    try:
        dims, schedule = cfg["dims"], schedule_from_dict(cfg["schedule"])
        preset, teacher_spec = cfg["preset"], cfg["model"]
        dataset_id = ckpt.metadata.dataset or preset["dataset"]
    except KeyError as exc:
        raise CheckpointError(f"{ckpt.path}: config.json misses {exc}; it is not a trajectory planner's config.") from None
    a, h = dims["action_dim"], dims["horizon"]
    init = None
    if init_from is not None:
        init = init_from if isinstance(init_from, Checkpoint) else registry.load(init_from, kind=KIND)
    init_h = int((init.config.get("dims") or {}).get("horizon", h)) if init is not None else h
    hs = int(student_horizon) if student_horizon is not None else init_h
    if not 1 < hs <= h:
        raise ValueError(f"student_horizon must be in [2, {h}] (the teacher {ckpt.spec}'s horizon), got {hs}.")
    global_cond = bool(cfg.get("global_cond", False))
    teacher_model = _teacher(ckpt).to(device)
    windows = None
    if pool.acting_share < 1.0:
        data_cfg = preset.get("data", {})
        data = SegmentDataset(
            dataset_id, h, normalizer=normalizer_from_dict(ckpt.metadata.normalizer),
            goal_mode=data_cfg.get("goal_mode", "hindsight"), min_goal_index=data_cfg.get("min_goal_index", 8),
            stride=data_cfg.get("stride", 1), seed=config.seed,
        )
        windows = planner_conditions(data, a, h, global_cond)
    arch = dict(student_model or DEFAULT_STUDENT)
    if "arch" not in arch:
        raise ValueError(f"student_model needs an 'arch' (e.g. 'temporal_unet'), got {student_model!r}.")
    fixed = {k: teacher_spec["config"][k] for k in ("transition_dim", "horizon", "cond_dim") if k in teacher_spec["config"]}
    fixed["horizon"] = hs
    if init is not None:
        student = _teacher(init)
        if model_spec(student)["config"].get("horizon", hs) != hs:  # the U-Net's weights do not depend on H
            spec0 = model_spec(student)
            moved = build_model({"arch": spec0["arch"], "config": {**spec0["config"], "horizon": hs}})
            moved.load_state_dict(student.state_dict())
            student = moved
        student = student.train().to(device)
    else:
        student = build_model({"arch": arch.pop("arch"), "config": {**fixed, **arch}}).to(device)
    torch.manual_seed(config.seed)

    tic = time.perf_counter()
    source, acting = windows, None
    n_acting = int(round(config.pool_size * pool.acting_share))
    if n_acting:
        acting, rollout_planner = record_acting_conditions(roller, n_acting, pool, seed=config.seed, device=device,
                                                           progress=progress, own_sampler=roller is not ckpt)
        if rollout_planner.horizon != h:  # e.g. a shorter-horizon student's rollouts: the teacher's inputs
            rollout_planner = conditioning_planner(ckpt, device=device)
        source = mixed_source(acting_source(rollout_planner, acting), windows, pool.acting_share)
    if source is None:  # unreachable: acting_share < 1 builds windows, acting_share = 1 records pool_size >= 1
        raise RuntimeError("distill_planner built no condition source.")
    trajectories = teacher_pool(teacher_model, schedule, cfg["prediction"], source, config, device=device,
                                progress=progress)
    trajectories, dropped = shorten_pool(trajectories, hs, h, global_cond)
    pool_wall = time.perf_counter() - tic
    result = distill(student, schedule, trajectories, config, device=device, progress=progress)
    result.pool_wall_s = pool_wall

    spec = model_spec(result.student)
    act = {**cfg["act"], "sampler": "consistency", "sampler_steps": sampler_steps, "eta": eta}
    new_preset = copy.deepcopy(preset)
    new_preset["model"] = {"arch": spec["arch"], **{k: v for k, v in spec["config"].items() if k not in ("transition_dim", "horizon", "cond_dim")}}
    new_preset["act"] = {**new_preset.get("act", {}), **act}
    new_preset["name"] = name or f"{ckpt.metadata.name}-distilled"
    if isinstance(new_preset.get("data"), dict) and "horizon" in new_preset["data"]:
        new_preset["data"]["horizon"] = hs  # the student's windows (e.g. for a later fine-tune)
    config_out = {**copy.deepcopy(cfg), "dims": {**dims, "horizon": hs}, "model": spec, "prediction": "x0", "act": act, "preset": new_preset,
                  "distill": {"teacher": ckpt.spec, "config": dataclasses.asdict(config), "pool": dataclasses.asdict(pool)}}
    tensors = {f"model.{k}": v for k, v in result.student.state_dict().items()}
    tensors.update({k: v for k, v in ckpt.tensors.items() if k.startswith("inv.")})
    meta = CheckpointMetadata(
        kind=KIND, env=ckpt.metadata.env, dataset=dataset_id, normalizer=ckpt.metadata.normalizer, steps=config.steps,
        scores={}, seed=config.seed, parent=ckpt.spec, git_commit=git_commit(),
        extra={"distilled_from": ckpt.spec, "student_init": None if init is None else init.spec,
               "teacher_steps": config.teacher_steps, "pool_size": config.pool_size,
               "acting_conditions": None if acting is None else {
                   "n": len(acting), "episodes": acting.episodes, "reset_seeds": [acting.seeds[0], acting.seeds[-1]],
                   "rollout": pool.rollout_agent or f"{pool.rollout_sampler}-{pool.rollout_steps}",
                   "wall_s": round(acting.wall_s, 1)},
               "student_horizon": hs, "pool_dropped_beyond_horizon": dropped,
               "pool_wall_s": round(pool_wall, 1), "train_wall_s_this_session": round(result.train_wall_s, 1),
               "final_loss": result.losses[-1] if result.losses else None,
               "student_parameters": _parameters(result.student), "teacher_parameters": _parameters(teacher_model)},
    )
    saved = registry.save(new_preset["name"], meta, tensors=tensors, config=config_out)
    return DistilledPlanner(saved, ckpt.spec, result, _parameters(result.student), _parameters(teacher_model))
