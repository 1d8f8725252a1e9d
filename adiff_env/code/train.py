"""Training the code models: the masked-diffusion coder and its autoregressive baseline.

``train_coder(corpus, config)`` trains either architecture on the same pre-encoded corpus with
the same optimiser, schedule and budget (``config.arch`` = ``"diffusion"`` or ``"ar"``), keeps
an EMA copy of the weights, writes TensorBoard scalars and a resumable ``resume.pt`` (model,
EMA, optimiser, step, RNG) every ``checkpoint_every`` steps and at the last (so a finished run
can be continued with more steps), evaluates pass@1 on unseen
instances every ``eval_every`` steps, and registers the EMA weights (safetensors) with the
tokenizer (``tokenizer.json``) in the model registry.

Diffusion loss: the MDLM bound (:func:`~adiff_env.diffusion.discrete.masked_diffusion_loss`)
with ``t`` drawn by stratified sampling over the batch (lower variance than i.i.d.), plus
``length_loss_weight`` x cross-entropy of the length head on the true program length.

Under torchrun (``adiff code train --nproc N``, :mod:`adiff_env.distributed.ddp`) every rank
runs this loop with ``batch_size`` per rank: each rank draws the whole global batch of
``N x batch_size`` examples and its random draws (``t``, the masks) from the same seeded
streams, pads it as one batch, and computes the model on its rows ``rank::N`` only; the token
losses are divided by the global batch's token count, so DDP's gradient mean is the global
batch's gradient: N ranks x batch B train as one process with batch N*B. Rank 0 alone trains
the tokenizer, logs, evaluates, writes ``resume.pt`` and registers.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from adiff_env._provenance import write_run_record
from adiff_env.code.config import ARCHS, CoderTrainConfig  # noqa: F401  (re-exported)
from adiff_env.devices import check_device  # noqa: F401  (re-exported for the CLI)
from adiff_env.diffusion.training import EMA
from adiff_env.distributed import ddp
from adiff_env.registry import Checkpoint, CheckpointMetadata, ModelRegistry, adiff_home


@dataclass
class CoderTrainResult:
    checkpoint: Checkpoint | None  # None on ranks other than 0 (rank 0 registers)
    final_loss: float
    wall_s: float
    steps: int
    scores: dict[str, Any]
    # This rank's trained modules: "model" (last weights), "ema" (averaged).
    modules: dict[str, Any] = field(default_factory=dict, repr=False)


def build_model(arch: str, model_config: dict[str, Any]) -> torch.nn.Module:
    if arch == "diffusion":
        from adiff_env.diffusion.discrete import MaskedTransformer, MaskedTransformerConfig

        return MaskedTransformer(MaskedTransformerConfig(**model_config))
    from adiff_env.baselines.ar_coder import CausalTransformer, CausalTransformerConfig

    return CausalTransformer(CausalTransformerConfig(**model_config))


def encode_corpus(tokenizer: Any, examples: Sequence[Any], max_prompt_len: int, max_len: int
                  ) -> tuple[list[list[int]], list[list[int]], int]:
    """Prompt and program ids of every example that fits; returns (prompts, programs, dropped)."""
    prompts, programs, dropped = [], [], 0
    for ex in examples:
        enc = tokenizer.encode_prompt(ex.prompt)
        try:
            ids = tokenizer.encode_program(ex.program, enc)
        except ValueError:
            dropped += 1
            continue
        if not 1 <= len(ids) <= max_len:
            dropped += 1
            continue
        prompts.append(enc.ids[:max_prompt_len])
        programs.append(ids)
    return prompts, programs, dropped


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), pad_id, dtype=torch.long)
    pad = torch.ones(len(rows), width, dtype=torch.bool)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
        pad[i, : len(r)] = False
    return out, pad


class _CoderNet(torch.nn.Module):
    """One forward for DDP: the masked coder's token logits and its length logits."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_t: torch.Tensor, p: torch.Tensor, xpad: torch.Tensor, ppad: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        model: Any = self.model
        return model(x_t, p, xpad, ppad), model.length_logits(p, ppad)


def _rows(w: ddp.World) -> slice:
    return slice(w.rank, None, w.world_size) if w.active and w.world_size > 1 else slice(None)


def diffusion_loss(model: torch.nn.Module, schedule: Any, prompts: list[list[int]], programs: list[list[int]],
                   length_weight: float, generator: torch.Generator, world: ddp.World = ddp.World()) -> torch.Tensor:
    """The loss of the module doc on the (global) batch ``prompts``/``programs``; ``model`` is a
    :class:`_CoderNet` (or its DDP wrapper). Under DDP this rank's share: its rows of the global
    draws, token sums over the global batch's valid tokens (x ``W`` for DDP's mean)."""
    from adiff_env.code.tokenizer import MASK_ID, PAD_ID
    from adiff_env.diffusion.discrete import mask_tokens, masked_diffusion_loss

    p, ppad = _pad(prompts, PAD_ID)
    x0, xpad = _pad(programs, PAD_ID)
    b = len(programs)
    t = ((torch.arange(b) + torch.rand(b, generator=generator)) / b)[torch.randperm(b, generator=generator)]
    t = t.clamp(1e-3, 1.0)
    x_t, masked = mask_tokens(x0, t, schedule, MASK_ID, valid=~xpad, generator=generator)
    r = _rows(world)
    dev = next(model.parameters()).device  # draws above stay on the CPU generator
    x_t, p, xpad, ppad, x0, masked, t = (v.to(dev) for v in (x_t, p, xpad, ppad, x0, masked, t))
    logits, length_logits = model(x_t[r], p[r], xpad[r], ppad[r])
    loss = masked_diffusion_loss(logits, x0[r], masked[r], t[r], schedule, valid=~xpad[r])
    if r != slice(None):  # this rank's token sum over the global batch's valid tokens, x W
        loss = loss * (int((~xpad[r]).sum()) * world.world_size / max(1, int((~xpad).sum())))
    if length_weight:
        lengths = torch.tensor([len(q) for q in programs], device=dev)
        loss = loss + length_weight * F.cross_entropy(length_logits, lengths[r])
    elif r != slice(None):
        loss = loss + 0.0 * length_logits.sum()  # DDP needs a gradient for every parameter
    return loss


def ar_step_loss(model: Any, prompts: list[list[int]], programs: list[list[int]],
                 world: ddp.World = ddp.World()) -> torch.Tensor:
    """The autoregressive baseline's loss on the (global) batch; under DDP this rank's rows, the
    token sum divided by the global batch's target count (x ``W``)."""
    from adiff_env.baselines.ar_coder import ar_batch, ar_loss
    from adiff_env.code.tokenizer import BOS_ID, EOS_ID, PAD_ID

    tokens, pad, target = ar_batch(prompts, programs, BOS_ID, EOS_ID, PAD_ID)
    dev = next(model.parameters()).device
    tokens, pad, target = tokens.to(dev), pad.to(dev), target.to(dev)
    r = _rows(world)
    if r == slice(None):
        return ar_loss(model, tokens, pad, target)
    logits = model(tokens[r])
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target[r].reshape(-1), ignore_index=-100, reduction="sum")
    return total * world.world_size / max(1, int((target != -100).sum()))


def _lr_factor(step: int, cfg: CoderTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_coder(
    corpus: Sequence[Any],
    config: CoderTrainConfig,
    *,
    name: str = "coder",
    registry: ModelRegistry | None = None,
    run_dir: Path | str | None = None,
    resume: bool = False,
    progress: bool = True,
    init_from: Checkpoint | None = None,
    extra: Sequence[Any] = (),
    mix_ratio: float = 0.5,
    evaluate_fn: Callable[[Any], dict[str, Any]] | None = None,
    metadata_extra: dict[str, Any] | None = None,
    act: dict[str, Any] | None = None,
    grow_vocab: bool = False,
    dataset: str = "procedural:train corpus",
    device: str = "cpu",
) -> CoderTrainResult:
    """Train (or fine-tune from ``init_from``) and register ``name`` (module doc).

    ``extra`` (e.g. programs from the self-evolution buffer) is mixed in so that a share
    ``mix_ratio`` of each batch, in expectation, comes from it. ``evaluate_fn(coder) -> dict``
    runs every ``eval_every`` steps and at the end; its dict lands in TensorBoard and the
    checkpoint's scores. ``grow_vocab`` (with ``init_from``): extend the parent's vocabulary by
    the corpus tokens it lacks (entry-point names excepted) and grow its embedding rows
    (:mod:`adiff_env.code.grow`). ``dataset`` is recorded in the checkpoint's metadata.
    ``device`` (``cpu``, ``cuda``, ``cuda:1``, ...) holds the model and its batches; the
    random draws (batches, masks, noise levels) stay on the CPU generator, so a run's data
    order does not depend on the device. Checkpoints are saved from CPU copies.

    Under an active process group (torchrun) ``batch_size`` is per rank and only rank 0 writes,
    evaluates and registers; the other ranks return ``checkpoint=None`` (module doc).
    """
    from torch.utils.tensorboard import SummaryWriter

    from adiff_env.code.tokenizer import CodeTokenizer

    cfg = config
    world = ddp.world()
    n_world = world.world_size if world.active else 1
    registry = registry or ModelRegistry()
    run_dir = Path(run_dir) if run_dir is not None else adiff_home() / "runs" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    resume_path = run_dir / "resume.pt"
    if resume and not resume_path.exists():
        raise FileNotFoundError(f"--resume: no resume.pt in {run_dir}; start without --resume or name the run dir.")
    if not corpus:
        raise ValueError("the training corpus is empty; build one with `adiff code corpus`.")
    if not 0.0 <= mix_ratio <= 1.0:
        raise ValueError(f"mix_ratio must be in [0, 1], got {mix_ratio}.")
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)

    init_tensors = dict(init_from.tensors) if init_from is not None else {}
    if init_from is not None:
        tokenizer = CodeTokenizer.load(init_from.path / "tokenizer.json")
        model_config = dict(init_from.config["model"])
        if grow_vocab:
            from adiff_env.code.grow import extend_tokenizer, grow_embeddings

            old_size = tokenizer.vocab_size
            tokenizer = extend_tokenizer(tokenizer, [e.prompt for e in corpus], [e.program for e in corpus],
                                         min_count=cfg.min_count, exclude={e.family for e in corpus})
            model_config["vocab_size"] = tokenizer.vocab_size
            init_tensors = grow_embeddings(init_tensors, old_size, tokenizer.vocab_size,
                                           torch.Generator().manual_seed(cfg.seed))
    elif grow_vocab:
        raise ValueError("grow_vocab needs init_from (the checkpoint whose vocabulary grows).")
    elif world.is_main and resume and (run_dir / "tokenizer.json").exists():
        tokenizer = CodeTokenizer.load(run_dir / "tokenizer.json")
        model_config = cfg.model_config(tokenizer.vocab_size)
    elif world.is_main:
        tokenizer = CodeTokenizer.train([e.prompt for e in corpus], [e.program for e in corpus], min_count=cfg.min_count,
                                        paired=True, max_prompt_len=cfg.max_prompt_len)
        model_config = cfg.model_config(tokenizer.vocab_size)
    if world.is_main:
        tokenizer.save(run_dir / "tokenizer.json")
    ddp.barrier(world)
    if not world.is_main and init_from is None:  # rank 0's tokenizer (trained once, or the resumed run's)
        tokenizer = CodeTokenizer.load(run_dir / "tokenizer.json")
        model_config = cfg.model_config(tokenizer.vocab_size)
    prompts, programs, dropped = encode_corpus(tokenizer, corpus, model_config["max_prompt_len"], model_config["max_len"])
    x_prompts, x_programs, _ = encode_corpus(tokenizer, extra, model_config["max_prompt_len"], model_config["max_len"])
    if not programs:
        raise ValueError(f"no corpus program fits max_len={model_config['max_len']} tokens ({dropped} dropped).")

    model = build_model(cfg.arch, model_config)
    if init_from is not None:
        from adiff_env.registry import load_weights

        load_weights(model, init_tensors, source=str(init_from.path))
    model.to(check_device(device))
    ema = EMA(model, decay=cfg.ema_decay)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    schedule = None
    if cfg.arch == "diffusion":
        from adiff_env.diffusion.discrete import make_mask_schedule

        schedule = make_mask_schedule(cfg.schedule)
    step, resumed_at, scores, losses = 0, 0, {}, []
    if resume:
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        ema.shadow.load_state_dict(state["ema"])
        ema.num_updates = int(state["step"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = resumed_at = int(state["step"])
        generator.set_state(state["generator"])
        rng.seed(cfg.seed + step)

    writer = SummaryWriter(str(run_dir / "tb")) if world.is_main else None
    if world.is_main:
        write_run_record(run_dir / "run.json", {"config": dataclasses.asdict(cfg), "name": name, "seed": cfg.seed,
                                                "examples": len(programs), "dropped": dropped, "extra": len(x_programs),
                                                "parameters": sum(p.numel() for p in model.parameters()),
                                                "vocab_size": tokenizer.vocab_size, "world_size": n_world,
                                                "global_batch": cfg.batch_size * n_world})
    net = ddp.wrap(_CoderNet(model) if cfg.arch == "diffusion" else model, world, device)
    tic = time.perf_counter()
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {name} ({cfg.arch})", disable=not (progress and world.is_main),
               dynamic_ncols=True)
    while step < cfg.steps:  # every rank draws the global batch; each computes its rows (module doc)
        idx_main = [rng.randrange(len(programs)) for _ in range(cfg.batch_size * n_world)]
        batch_p, batch_q = [], []
        for i in idx_main:
            if x_programs and rng.random() < mix_ratio:
                j = rng.randrange(len(x_programs))
                batch_p.append(x_prompts[j])
                batch_q.append(x_programs[j])
            else:
                batch_p.append(prompts[i])
                batch_q.append(programs[i])
        if cfg.arch == "diffusion":
            loss = diffusion_loss(net, schedule, batch_p, batch_q, cfg.length_loss_weight, generator, world)
        else:
            loss = ar_step_loss(net, batch_p, batch_q, world)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        ema.update(model)
        step += 1
        losses.append(loss.item())
        bar.update(1)
        if step % 50 == 0 or step == cfg.steps:
            avg = ddp.mean_over_ranks(sum(losses[-50:]) / len(losses[-50:]), world)  # every rank calls it
            if writer is not None:
                bar.set_postfix(loss=f"{avg:.4f}", lr=f"{sched.get_last_lr()[0]:.1e}")
                writer.add_scalar("train/loss", avg, step)
                writer.add_scalar("train/lr", sched.get_last_lr()[0], step)
        if world.is_main and cfg.checkpoint_every and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
            _save_resume(resume_path, model, ema, opt, sched, step, generator)
        if (world.is_main and evaluate_fn is not None and cfg.eval_every and step % cfg.eval_every == 0
                and step < cfg.steps):
            scores = _evaluate(evaluate_fn, cfg.arch, ema, model_config, tokenizer, writer, step)
            model.train()
    bar.close()
    final_loss = sum(losses[-100:]) / max(1, len(losses[-100:])) if losses else float("nan")
    final_loss = ddp.mean_over_ranks(final_loss, world)
    if not world.is_main:
        return CoderTrainResult(None, final_loss, time.perf_counter() - tic, step, scores, {"model": model, "ema": ema.shadow})
    if evaluate_fn is not None:
        scores = _evaluate(evaluate_fn, cfg.arch, ema, model_config, tokenizer, writer, step)
    wall = time.perf_counter() - tic
    if writer is not None:
        writer.close()
    meta = CheckpointMetadata(
        kind="code-planner" if cfg.arch == "diffusion" else "code-ar", env="adiff/CodeTests-v0",
        dataset=dataset, steps=step, scores=scores, seed=cfg.seed,
        parent=init_from.spec if init_from is not None else None,
        extra={"train": dataclasses.asdict(cfg), "examples": len(programs), "extra_examples": len(x_programs),
               "final_loss": final_loss, "train_wall_s": wall, "world_size": n_world,
               "global_batch": cfg.batch_size * n_world, "resumed_at_step": resumed_at, **(metadata_extra or {})})
    config_out = {"arch": cfg.arch, "model": model_config, "act": dict(act or {}), "train": dataclasses.asdict(cfg)}
    checkpoint = registry.save(name, meta, tensors=_ema_state(ema), config=config_out,
                               extra_files={"tokenizer.json": run_dir / "tokenizer.json"})
    return CoderTrainResult(checkpoint, final_loss, wall, step, scores, {"model": model, "ema": ema.shadow})


def _ema_state(ema: EMA) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}


def _evaluate(fn: Callable, arch: str, ema: EMA, model_config: dict, tokenizer: Any, writer: Any, step: int) -> dict:
    from adiff_env.baselines.ar_coder import ARCoder
    from adiff_env.code.coder import DiffusionCoder

    model = build_model(arch, model_config)
    model.load_state_dict(_ema_state(ema))
    coder = (DiffusionCoder if arch == "diffusion" else ARCoder)(model, tokenizer)
    scores = dict(fn(coder))
    for key, value in scores.items():
        if isinstance(value, (int, float)):
            writer.add_scalar(f"eval/{key}", value, step)
    writer.flush()
    return scores


def _save_resume(path: Path, model, ema, opt, sched, step: int, generator: torch.Generator) -> None:
    tmp = path.with_name(".resume.pt.tmp")
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "step": step, "generator": generator.get_state()}, tmp)
    os.replace(tmp, path)
