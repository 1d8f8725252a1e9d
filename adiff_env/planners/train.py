"""Training a trajectory planner: Minari dataset -> goal-reaching windows -> denoiser.

``train_planner(preset)`` runs the loop behind ``adiff maze train``::

    windows (SegmentDataset, normalized [B, H, A + O])
      -> inpaint start state (index 0) and the resting goal rows (index >= j)
      -> DiffusionObjective loss on the free entries -> AdamW + warmup/cosine LR -> EMA
      (+ an inverse-dynamics MLP on consecutive planned states, trained alongside)

Every run has a run directory (TensorBoard events in ``tb/``, ``run.json`` with the preset,
seed and git commit, and ``resume.pt`` written atomically every ``checkpoint_every`` steps so
``--resume`` continues), evaluates the EMA model every ``eval_every`` steps on the preset's
env, and registers the final EMA weights as a new version in the model registry.

Under torchrun (``adiff train --nproc N``, :mod:`adiff_env.distributed.ddp`) the same loop runs
on every rank with a few hooks: the denoiser and the inverse dynamics in DDP, the distributed
data order and global-batch noise draws (N ranks x batch B = one process x batch N*B, exactly),
and rank 0 alone logging, evaluating, writing ``resume.pt`` and registering.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from adiff_env.datasets.segments import SegmentDataset
from adiff_env.diffusion import (
    EMA,
    DiffusionObjective,
    Inpainting,
    OptimConfig,
    TrainStep,
    build_model,
    count_parameters,
    load_prefixed,
    make_schedule,
    model_spec,
    prefixed_state,
    tensors_under,
)
from adiff_env.distributed import ddp
from adiff_env.planners.parts import InverseDynamics, global_condition
from adiff_env.planners.preset import PlannerPreset
from adiff_env.planners.task import PlanningTask, goal_dim_of, pinned_columns, planning_task_of
from adiff_env.planners.trajectory import KIND, TrajectoryPlanner
from adiff_env.registry import Checkpoint, CheckpointMetadata, ModelRegistry, adiff_home, git_commit


@dataclasses.dataclass
class TrainResult:
    """What a training run produced."""

    checkpoint: Checkpoint | None  # None on ranks other than 0 (rank 0 registers)
    run_dir: Path
    steps: int
    wall_s: float
    final_loss: float
    scores: dict[str, Any]
    # The trained modules of this rank: "model" (last weights), "ema" (averaged), "inv" (or None).
    modules: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)


def training_conditioner(batch_traj: torch.Tensor, goal_index: torch.Tensor, action_dim: int,
                         columns: Sequence[int] | None = None) -> Inpainting:
    """Per-sample inpainting for a batch ``[B, H, D]``: the start state (observation entries of
    row 0) and, in rows ``>= goal_index[b]`` (the resting goal), the entries of ``columns`` —
    what the planner pins when acting (:func:`~adiff_env.planners.task.pinned_columns` of the
    env's task). ``columns = None``: every entry (the maze: goal, velocities and actions)."""
    b, h, d = batch_traj.shape
    rows = torch.arange(h, device=batch_traj.device).view(1, h, 1)
    mask = (rows >= goal_index.view(b, 1, 1)).expand(b, h, d).clone()
    if columns is not None:
        keep = torch.zeros(d, dtype=torch.bool, device=batch_traj.device)
        keep[list(columns)] = True
        mask &= keep.view(1, 1, d)
    mask[:, 0, action_dim:] = True
    return Inpainting(mask, batch_traj)


def training_task(preset: PlannerPreset, obs_dim: int) -> PlanningTask:
    """The :class:`PlanningTask` of the preset's env (what acting will pin), for training."""
    import gymnasium as gym

    env = gym.make(preset.env)
    try:
        return planning_task_of(env, obs_dim, goal_dim_of(env))
    finally:
        env.close()


def _batches(loader: torch.utils.data.DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def default_run_dir(name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return adiff_home() / "runs" / f"{name}-{stamp}"


def train_planner(
    preset: PlannerPreset,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    registry: ModelRegistry | None = None,
    on_eval: Callable[[int, dict[str, Any]], None] | None = None,
    init_from: Checkpoint | None = None,
    extra_dataset: str | None = None,
    extra_ratio: float = 0.5,
    extra_goal_above: tuple[int, float] | None = None,
    extra_goal_above_exempt: str | None = None,
) -> TrainResult:
    """Train the planner described by ``preset`` and register it as ``preset.name``.

    Under an active process group (torchrun) ``device`` is this rank's device, ``batch_size`` is
    per rank, and only rank 0 writes and registers (module docstring).

    Fine-tuning (self-evolution): ``init_from`` starts from a checkpoint's weights (model, EMA
    and inverse dynamics) and keeps its normalizer; ``extra_dataset`` (a Minari id) is mixed in
    so that a share ``extra_ratio`` of the training windows, in expectation, comes from it;
    ``extra_goal_above`` (``(state dim, raw value)``) restricts that dataset's hindsight goal
    indices to steps above the value (:class:`~adiff_env.datasets.segments.SegmentDataset`),
    except in its episodes labelled ``infos[extra_goal_above_exempt]`` (e.g. rehearsed table rollouts).
    """
    cfg, dcfg = preset.train, preset.diffusion
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(preset.name)
    resume_path = run_dir / "resume.pt"
    if resume and not resume_path.exists():
        raise FileNotFoundError(f"--resume: no resume.pt in {run_dir}; start without --resume or name the run dir.")
    run_dir.mkdir(parents=True, exist_ok=True)
    world = ddp.world()
    if world.active and extra_dataset:
        raise ValueError("extra_dataset (fine-tuning on mixed data) runs in one process; drop --nproc.")
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)

    if not 0.0 <= extra_ratio <= 1.0:
        raise ValueError(f"extra_ratio must be in [0, 1], got {extra_ratio}.")
    normalizer: Any = preset.data.normalizer
    if init_from is not None:
        from adiff_env.datasets.normalizers import normalizer_from_dict

        normalizer = normalizer_from_dict(init_from.metadata.normalizer)
    data = SegmentDataset(
        preset.dataset, preset.data.horizon, normalizer=normalizer, goal_mode=preset.data.goal_mode,
        min_goal_index=preset.data.min_goal_index, stride=preset.data.stride, seed=cfg.seed,
        rest_keep_dims=preset.data.rest_keep_dims, max_noise_std=preset.data.max_noise_std,
    )
    a, o, h = data.action_dim, data.observation_dim, preset.data.horizon
    task = training_task(preset, o)
    pinned = pinned_columns(task, a)
    pinned_arg = None if len(pinned) == a + o else pinned  # everything pinned: the maze, unchanged
    goal_cols = [a + d for d in task.goal_dims]
    loader = _mixed_loader(data, preset, extra_dataset, extra_ratio, extra_goal_above,
                           extra_goal_above_exempt) if extra_dataset else torch.utils.data.DataLoader(
        data, batch_size=cfg.batch_size, shuffle=True, drop_last=len(data) >= cfg.batch_size,
        generator=torch.Generator().manual_seed(cfg.seed))
    cond_dim = o + len(goal_cols) + 1 if dcfg.global_cond else 0
    model = build_model({"arch": preset.model.arch, "config": preset.model.denoiser_config(a + o, h, cond_dim)}).to(device)
    schedule = make_schedule(dcfg.schedule, dcfg.n_timesteps)
    weights = torch.tensor(dcfg.loss_weights(a, o))
    objective = DiffusionObjective(schedule, prediction=dcfg.prediction, loss=dcfg.loss, weights=weights)
    ema = EMA(model, decay=cfg.ema_decay)
    trainer = TrainStep(model, OptimConfig(lr=cfg.lr, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps), ema=ema)
    inv = InverseDynamics(o, a, cfg.inverse_dynamics_hidden).to(device) if cfg.inverse_dynamics_hidden else None
    inv_opt = torch.optim.AdamW(inv.parameters(), lr=1e-3) if inv is not None else None
    if init_from is not None:
        _load_init(init_from, model, ema, inv)

    scores: dict[str, Any] = {}
    resumed_at = 0
    if resume:
        state = torch.load(resume_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        ema.shadow.load_state_dict(state["ema"])
        ema.num_updates = state["ema_updates"]
        trainer.load_state_dict(state["trainer"])
        if inv is not None:
            inv.load_state_dict(state["inv"])
            inv_opt.load_state_dict(state["inv_opt"])
        generator.set_state(state["generator"])
        scores = json.loads(state["scores"])
        resumed_at = trainer.step
    elif world.is_main:
        _write_json(run_dir / "run.json", {
            "preset": preset.to_dict(), "seed": cfg.seed, "git_commit": git_commit(), "device": str(device),
            "world_size": world.world_size, "global_batch": cfg.batch_size * world.world_size,
            "parameters": count_parameters(model), "windows": len(data), "started_at": datetime.now(UTC).isoformat(),
        })

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tb")) if world.is_main else None
    start_wall, loss = time.perf_counter(), float("nan")
    batches = ddp.distributed_batches(data, cfg.batch_size, cfg.seed, world, trainer.step) if world.active else _batches(loader)
    net, inv_net = ddp.wrap(model, world, device), ddp.wrap(inv, world, device) if inv is not None else None
    net = torch.compile(net) if cfg.compile else net
    weight_sum = ddp.global_mean_weight(world)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")
    bar = tqdm(total=cfg.steps, initial=trainer.step, desc=f"train {preset.name}", disable=not (progress and world.is_main),
               dynamic_ncols=True)
    try:
        while trainer.step < cfg.steps:
            seg = next(batches)
            x0, j = seg.trajectories.to(device), seg.goal_index.to(device)
            cond = training_conditioner(x0, j, a, pinned_arg)
            vector = None
            if dcfg.global_cond:
                rows = torch.arange(x0.shape[0], device=device)
                vector = global_condition(x0[:, 0, a:], x0[rows.view(-1, 1), j.view(-1, 1), goal_cols], j, h)
            t, noise, draw_gen, draw_world = None, None, generator, world
            if world.active and cfg.ddp_noise == "global":
                t, noise = _global_draws(x0, schedule.num_steps, generator, world)
            elif world.active:  # "rank": this rank's own stream for this step
                draw_gen, draw_world = ddp.step_generator(cfg.seed, trainer.step, world.rank), ddp.World()
                t, noise = _global_draws(x0, schedule.num_steps, draw_gen, draw_world)

            def loss_fn() -> torch.Tensor:
                with autocast:
                    return objective(net, x0, conditioner=cond, cond=vector, generator=generator, t=t, noise=noise,
                                     weight_sum=weight_sum).loss.float()

            loss = trainer(loss_fn)
            inv_loss = _inverse_dynamics_step(inv_net, inv_opt, x0, j, a, draw_gen, draw_world) if inv is not None else None
            step = trainer.step
            bar.update(1)
            if step % 10 == 0 or step == cfg.steps:
                loss = ddp.mean_over_ranks(loss, world)
                inv_loss = ddp.mean_over_ranks(inv_loss, world) if inv_loss is not None else None
            if writer is not None and (step % 10 == 0 or step == cfg.steps):
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{trainer.lr:.1e}")
                writer.add_scalar("train/loss", loss, step)
                writer.add_scalar("train/lr", trainer.lr, step)
                if inv_loss is not None:
                    writer.add_scalar("train/inverse_dynamics_loss", inv_loss, step)
            if world.is_main and cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
                result = _evaluate_in_memory(preset, ema.shadow, schedule, data, inv, step)
                scores = {"step": step, **result}
                for key, value in result.items():
                    if isinstance(value, (int, float)) and value is not None:
                        writer.add_scalar(f"eval/{key}", value, step)
                bar.write(f"step {step}: normalized score x100 {result.get('normalized_score_x100_mean')}, success {result.get('success_rate')}")
                if on_eval is not None:
                    on_eval(step, result)
            if world.is_main and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                _atomic_torch_save({
                    "model": model.state_dict(), "ema": ema.shadow.state_dict(), "ema_updates": ema.num_updates,
                    "trainer": trainer.state_dict(), "inv": inv.state_dict() if inv is not None else {},
                    "inv_opt": inv_opt.state_dict() if inv_opt is not None else {}, "generator": generator.get_state(),
                    "scores": json.dumps(scores),
                }, resume_path)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    wall = time.perf_counter() - start_wall
    modules = {"model": model, "ema": ema.shadow, "inv": inv}
    if not world.is_main:
        return TrainResult(None, run_dir, trainer.step, wall, loss, scores, modules)

    tensors = prefixed_state(ema.shadow, "model.")
    if inv is not None:
        tensors.update(prefixed_state(inv, "inv."))
    config = {
        "model": model_spec(ema.shadow), "schedule": schedule.to_dict(), "prediction": dcfg.prediction,
        "dims": {"horizon": h, "action_dim": a, "obs_dim": o}, "act": dataclasses.asdict(preset.act),
        "global_cond": dcfg.global_cond,
        "inverse_dynamics": {"obs_dim": o, "action_dim": a, "hidden": inv.hidden} if inv is not None else None,
        "preset": preset.to_dict(),
    }
    meta = CheckpointMetadata(
        kind=KIND, env=preset.env, dataset=preset.dataset, normalizer=data.normalizer.to_dict(), steps=trainer.step,
        scores=scores, seed=cfg.seed, parent=init_from.spec if init_from is not None else None,
        extra={"train_wall_s_this_session": round(wall, 1), "run_dir": _home_relative(run_dir), "final_loss": loss,
               "world_size": world.world_size, "global_batch": cfg.batch_size * world.world_size,
               "resumed_at_step": resumed_at, "device": str(device), "amp": cfg.amp, "compile": cfg.compile,
               "ddp_noise": cfg.ddp_noise,
               **({"extra_dataset": extra_dataset, "extra_ratio": extra_ratio} if extra_dataset else {}),
               **({"extra_goal_above": list(extra_goal_above)} if extra_goal_above is not None else {}),
               **({"extra_goal_above_exempt": extra_goal_above_exempt} if extra_goal_above_exempt else {})},
    )
    checkpoint = (registry or ModelRegistry()).save(preset.name, meta, tensors=tensors, config=config)
    return TrainResult(checkpoint, run_dir, trainer.step, wall, loss, scores, modules)


def _mixed_loader(data: SegmentDataset, preset: PlannerPreset, extra_id: str, ratio: float,
                  goal_above: tuple[int, float] | None = None,
                  goal_above_exempt: str | None = None) -> torch.utils.data.DataLoader:
    """Windows of ``data`` and of the Minari dataset ``extra_id`` (same normalizer), drawn with
    replacement so that a share ``ratio`` comes from the extra data."""
    cfg = preset.train
    extra = SegmentDataset(
        extra_id, preset.data.horizon, normalizer=data.normalizer, goal_mode=preset.data.goal_mode,
        min_goal_index=preset.data.min_goal_index,
        stride=1, seed=cfg.seed, rest_keep_dims=preset.data.rest_keep_dims, goal_above=goal_above,
        goal_above_exempt=goal_above_exempt if goal_above is not None else None,
    )
    both = torch.utils.data.ConcatDataset([data, extra])
    weights = torch.cat([torch.full((len(data),), (1 - ratio) / len(data)), torch.full((len(extra),), ratio / len(extra))])
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=cfg.batch_size * max(cfg.steps, 1), replacement=True,
                                                     generator=torch.Generator().manual_seed(cfg.seed))
    return torch.utils.data.DataLoader(both, batch_size=cfg.batch_size, sampler=sampler, drop_last=True)


def _load_init(checkpoint: Checkpoint, model: torch.nn.Module, ema: EMA, inv: InverseDynamics | None) -> None:
    """Start from ``checkpoint``'s EMA weights (model and shadow) and inverse dynamics."""
    tensors, source = checkpoint.tensors, str(checkpoint.path)
    load_prefixed(model, tensors, "model.", source)
    load_prefixed(ema.shadow, tensors, "model.", source)
    if inv is not None and tensors_under(tensors, "inv."):
        load_prefixed(inv, tensors, "inv.", source)


def _global_draws(x0: torch.Tensor, num_steps: int, generator: torch.Generator, world: ddp.World) -> tuple[torch.Tensor, torch.Tensor]:
    """Timesteps ``[B]`` and noise ``[B, H, D]`` for this rank: the whole global batch's draws
    (``[W * B]``, in the order one process would draw them) and this rank's rows of them."""
    b = x0.shape[0] * (world.world_size if world.active else 1)
    t = torch.randint(0, num_steps, (b,), generator=generator, device=generator.device)
    noise = torch.randn((b, *x0.shape[1:]), generator=generator, device=generator.device, dtype=torch.float32)
    return ddp.local_rows(t, world), ddp.local_rows(noise, world)


def _inverse_dynamics_step(inv, opt, x0: torch.Tensor, j: torch.Tensor, a: int, generator: torch.Generator,
                           world: ddp.World = ddp.World()) -> float:
    """One step on pairs ``(s_k, s_{k+1}) -> a_k`` with ``k`` uniform in ``[0, j - 2]`` (moving rows only);
    under DDP the uniform draws are the global batch's (rows ``rank::W``)."""
    b = x0.shape[0]
    u = ddp.local_rows(torch.rand(b * (world.world_size if world.active else 1), generator=generator), world)
    k = (u * (j.cpu() - 1).clamp_min(1)).long().to(x0.device)
    idx = torch.arange(b, device=x0.device)
    pred = inv(x0[idx, k, a:], x0[idx, k + 1, a:])
    loss = torch.nn.functional.mse_loss(pred, x0[idx, k, :a])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _evaluate_in_memory(preset: PlannerPreset, model, schedule, data: SegmentDataset, inv, step: int) -> dict[str, Any]:
    import gymnasium as gym

    from adiff_env.evaluation import run_episodes

    env = gym.make(preset.env)
    try:
        act = preset.act if inv is not None or preset.act.action != "inverse-dynamics" else dataclasses.replace(preset.act, action="pd")
        planner = TrajectoryPlanner(model, schedule.to_dict(), preset.diffusion.prediction, data.normalizer, data.horizon,
                                    data.action_dim, data.observation_dim, act,
                                    task=planning_task_of(env, data.observation_dim, goal_dim_of(env)),
                                    inverse_dynamics=inv, seed=preset.train.seed, name=f"{preset.name}@step{step}",
                                    global_cond=preset.diffusion.global_cond)
        returns, successes, _ = run_episodes(env, planner, preset.train.eval_episodes, seed=10_000)
        scorer = getattr(env.unwrapped, "get_normalized_score", None)
        out: dict[str, Any] = {"return_mean": sum(returns) / len(returns), "success_rate": sum(successes) / len(successes)}
        if scorer is not None:
            out["normalized_score_x100_mean"] = 100 * sum(scorer(r) for r in returns) / len(returns)
        out["plan_ms_median"] = planner.eval_stats()["plan_ms_median"]
        return out
    finally:
        env.close()
        model.eval()


def _home_relative(path: Path) -> str:
    """``path`` relative to ``$ADIFF_HOME`` when inside it, so a shipped checkpoint's metadata
    names no machine's folders; else just the folder's name."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(adiff_home().resolve()))
    except ValueError:
        return path.name


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
