"""Distilling a many-step sampler into a one/two-step student (consistency-style, on CPU budgets).

The teacher is a trained denoiser sampled with deterministic DDIM (``teacher_steps`` steps).
DDIM with ``eta = 0`` is an ODE solver: it maps each starting noise ``x_T`` (under a given
inpainting and global condition) to one end point ``x0*``, and every point ``x_{t_k}`` it
passes on the way lies on that same trajectory. The student learns the *consistency
function* of that ODE, ``f(x_{t_k}, t_k, c) = x0*`` for every point of the trajectory
(Song et al. 2023; Consistency Policy, Prasad et al. 2024), so that

- one step, ``x0 = f(x_T, T - 1, c)``, lands where the teacher's DDIM-N lands from the same
  noise, and
- two steps (:class:`~adiff_env.diffusion.schedulers.ConsistencyScheduler`): ``x0 = f(x_T)``,
  re-noise to ``t_mid``, ``x0 = f(x_mid, t_mid)`` refines it.

How it trains (why not the bootstrapped consistency-distillation loss): the original CD loss
regresses ``f(x_{t_{n+1}})`` onto an EMA target ``f^-(x_{t_n})`` one teacher ODE step apart,
which propagates the end point down the trajectory only over ~1e5 iterations. On a CPU budget
of minutes we instead run the teacher's full DDIM-N once per condition (``pool_size`` of them,
in no-grad batches), keep its whole trajectory ``x_{t_0..t_N}`` and its end point, and regress
the student directly onto the true end point (``Luhman & Luhman 2021``-style knowledge
distillation, generalised to every point of the trajectory, i.e. the consistency function with
exact targets). Per optimisation step the loss is, on the free (not inpainted) entries,

    L = ||f(x_T, T-1) - x0*||^2                                  (one step)
      + ||f(x_{t_k}, t_k) - x0*||^2,  k ~ U{1..N-1}             (any trajectory point)
      + ||f(x_mid, t_mid) - x0*||^2,  x_mid = renoise(sg f(x_T)) (the two-step sampler's input;
                                     half with fresh noise, half with the predicted noise, so
                                     the consistency sampler works at eta = 1 and eta = 0)

with AdamW + warmup/cosine and an EMA of the student's weights (the EMA is what is returned).
The student may be any denoiser ``forward(x_t, t, cond) -> x0`` (e.g. a smaller U-Net); it
always predicts ``x0``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from adiff_env.diffusion.conditioning import Inpainting
from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.prediction import randn
from adiff_env.diffusion.schedulers import make_scheduler
from adiff_env.diffusion.schedules import NoiseSchedule
from adiff_env.diffusion.training import EMA, OptimConfig, TrainStep

# draw_conditions(n, generator) -> (inpainting [n, H, D], global condition [n, C] or None)
ConditionSource = Callable[[int, torch.Generator], tuple[Inpainting, "torch.Tensor | None"]]


@dataclass(frozen=True)
class DistillConfig:
    """``teacher_steps``: the teacher's DDIM steps (its trajectory and end point are the
    targets). ``pool_size``: teacher trajectories drawn (``teacher_batch`` at a time).
    ``steps``/``batch_size``/``lr``/``warmup_steps``/``ema_decay``: the student's training.
    ``two_step_weight``: weight of the loss on the two-step sampler's second input (re-noised to
    ``t_mid``, the second timestep of a 2-step trailing schedule; 0 = one-step only).
    ``seed``: drives the teacher noise, the condition draws and the batches."""

    teacher_steps: int = 10
    pool_size: int = 4096
    teacher_batch: int = 256
    steps: int = 4000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 100
    ema_decay: float = 0.995
    two_step_weight: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("teacher_steps", "pool_size", "teacher_batch", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DistillConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.two_step_weight < 0 or self.lr <= 0:
            raise ValueError(
                f"DistillConfig needs two_step_weight >= 0 and lr > 0, got {self.two_step_weight}, {self.lr}."
            )


@dataclass
class TeacherPool:
    """Teacher DDIM trajectories: ``chain [N, S + 1, H, D]`` (``chain[:, k]`` is ``x`` at the
    teacher's ``timesteps[k]``; ``chain[:, S]`` the end point), the inpainting ``mask`` and
    ``values`` ``[N, H, D]``, global conditions ``cond [N, C]`` (or None) and ``timesteps [S]``."""

    chain: torch.Tensor
    mask: torch.Tensor
    values: torch.Tensor
    cond: torch.Tensor | None
    timesteps: torch.Tensor

    def __len__(self) -> int:
        return self.chain.shape[0]


@dataclass
class DistillResult:
    """The EMA student (eval mode), the loss per logged step and the wall time."""

    student: nn.Module
    losses: list[float] = field(default_factory=list)
    pool_wall_s: float = 0.0
    train_wall_s: float = 0.0


def teacher_pool(
    teacher: nn.Module,
    schedule: NoiseSchedule,
    prediction: str,
    draw_conditions: ConditionSource,
    config: DistillConfig,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> TeacherPool:
    """Run the teacher's deterministic DDIM-``teacher_steps`` for ``pool_size`` conditions
    from ``draw_conditions`` and keep the trajectories (see :class:`TeacherPool`)."""
    gen = torch.Generator().manual_seed(config.seed)
    sched = make_scheduler("ddim", schedule, prediction=prediction, steps=config.teacher_steps, eta=0.0)
    chains, masks, values, conds = [], [], [], []
    done = 0
    bar = tqdm(total=config.pool_size, desc="teacher DDIM", disable=not progress, leave=False)
    while done < config.pool_size:
        n = min(config.teacher_batch, config.pool_size - done)
        inpaint, cond = draw_conditions(n, gen)
        if inpaint.mask.shape[0] != n or inpaint.mask.ndim != 3:
            raise ValueError(
                f"draw_conditions({n}, generator) must return a batched [n, H, D] inpainting, got "
                f"mask shape {tuple(inpaint.mask.shape)}."
            )
        inpaint = inpaint.to(device)
        cond = cond.to(device) if cond is not None else None
        out = sample(teacher, sched, tuple(inpaint.mask.shape), device=device, generator=gen,
                     conditioner=inpaint, cond=cond, return_chain=True)
        chains.append(out.chain.transpose(0, 1).cpu())
        masks.append(inpaint.mask.cpu())
        values.append(inpaint.values.cpu())
        conds.append(cond.cpu() if cond is not None else None)
        done += n
        bar.update(n)
    bar.close()
    cond_all = None if conds[0] is None else torch.cat(conds)
    return TeacherPool(torch.cat(chains), torch.cat(masks), torch.cat(values), cond_all, sched.timesteps.clone())


def distill(
    student: nn.Module,
    schedule: NoiseSchedule,
    pool: TeacherPool,
    config: DistillConfig,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    log_every: int = 50,
) -> DistillResult:
    """Train ``student`` (predicting ``x0``) on ``pool`` (module doc); returns the EMA student."""
    device = torch.device(device)
    student = student.to(device)
    gen = torch.Generator().manual_seed(config.seed + 1)
    abar = schedule.alphas_cumprod().to(torch.float32)
    ts = pool.timesteps
    t_first = int(ts[0])
    t_mid = int(make_scheduler("consistency", schedule, prediction="x0", steps=2).timesteps[-1]) if schedule.num_steps > 1 else t_first
    ema = EMA(student, decay=config.ema_decay)
    trainer = TrainStep(student, OptimConfig(lr=config.lr, warmup_steps=min(config.warmup_steps, config.steps - 1),
                                             total_steps=config.steps), ema=ema)
    result = DistillResult(student=ema.shadow)
    s = len(ts)
    tic = time.perf_counter()
    bar = tqdm(total=config.steps, desc="distill", disable=not progress, dynamic_ncols=True)
    while trainer.step < config.steps:
        idx = torch.randint(0, len(pool), (config.batch_size,), generator=gen)
        chain = pool.chain[idx].to(device)
        target = chain[:, s]
        free = (~pool.mask[idx]).to(device, target.dtype)
        inpaint = Inpainting(pool.mask[idx].to(device), pool.values[idx].to(device))
        cond = pool.cond[idx].to(device) if pool.cond is not None else None
        k = torch.randint(1, max(s, 2), (config.batch_size,), generator=gen).clamp_max(s - 1).to(device)
        x_k = chain[torch.arange(config.batch_size, device=device), k]
        t_k = ts.to(device)[k]
        noise = randn(tuple(target.shape), target, gen)
        fresh = (torch.rand(config.batch_size, 1, 1, generator=gen) < 0.5).to(device)

        def loss_fn() -> torch.Tensor:
            b = target.shape[0]
            x_first = chain[:, 0]
            pred_first = student(x_first, torch.full((b,), t_first, device=device, dtype=torch.long), cond)
            terms = [_masked_mse(pred_first, target, free)]
            if s > 1:
                terms.append(_masked_mse(student(x_k, t_k, cond), target, free))
            if config.two_step_weight > 0 and t_mid < t_first:
                a_mid, a_first = float(abar[t_mid]), float(abar[t_first])
                x0_hat = inpaint.apply(pred_first.detach())
                eps_hat = (x_first - a_first**0.5 * x0_hat) / (1 - a_first) ** 0.5
                mixed = torch.where(fresh, noise, eps_hat)  # eta = 1 and eta = 0 samplers alike
                x_mid = inpaint.apply(a_mid**0.5 * x0_hat + (1 - a_mid) ** 0.5 * mixed)
                pred_mid = student(x_mid, torch.full((b,), t_mid, device=device, dtype=torch.long), cond)
                terms.append(config.two_step_weight * _masked_mse(pred_mid, target, free))
            return sum(terms)

        loss = trainer(loss_fn)
        bar.update(1)
        if trainer.step % log_every == 0 or trainer.step == config.steps:
            result.losses.append(loss)
            bar.set_postfix(loss=f"{loss:.4f}")
    bar.close()
    result.train_wall_s = time.perf_counter() - tic
    result.student = ema.shadow.eval()
    return result


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the free entries (``free`` is 1 there, 0 on inpainted ones)."""
    return ((pred - target).square() * free).sum() / free.sum().clamp_min(1.0)
