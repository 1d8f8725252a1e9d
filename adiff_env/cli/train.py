"""``adiff train ENV_ID --dataset ID --preset planners/pointmaze-umaze.toml [--nproc N]``: train a planner
(``--nproc``: N data-parallel ranks under torchrun, :mod:`adiff_env.distributed.ddp`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from adiff_env.planners.preset import AMP_MODES, DDP_NOISE

    p = sub.add_parser(
        "train",
        help="train a diffusion trajectory planner on a Minari dataset",
        description=(
            "Train a Diffuser-style planner (EMA weights, AdamW + warmup/cosine LR, TensorBoard "
            "events, periodic evaluation) and register it in the model registry ($ADIFF_HOME). "
            "Options given here override the preset."
        ),
    )
    p.add_argument("env_id", help="env the planner acts in (overrides the preset's), e.g. adiff/PointMaze-UMaze-v0")
    p.add_argument("--preset", required=True, help="preset TOML path or name in planners/, e.g. pointmaze-umaze")
    p.add_argument("--dataset", help="Minari dataset id (default: the preset's)")
    p.add_argument("--name", help="registry name of the model (default: the preset's)")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--seed", type=int, help="seed")
    p.add_argument("--eval-every", type=int, help="evaluate every N steps and at the end (0: never)")
    p.add_argument("--eval-episodes", type=int, help="episodes per periodic evaluation")
    p.add_argument("--run-dir", type=Path, help="run directory (TensorBoard, resume state); default $ADIFF_HOME/runs/NAME-TIME")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last resume.pt")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1, mps (default cpu; with --nproc, "
                   "cuda gives rank r the GPU cuda:LOCAL_RANK)")
    p.add_argument("--amp", choices=AMP_MODES, help="mixed precision: bf16 autocast of the denoiser (default: the preset's, none)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the denoiser for training")
    p.add_argument("--ddp-noise", choices=DDP_NOISE, help="with --nproc: noise draws, global (exactly one process "
                   "with the global batch; O(N) draws per rank) or rank (per-rank streams; for many ranks). Default: the preset's, global")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel ranks on this machine under torchrun (DDP: gloo on CPU, "
                   "NCCL on CUDA); --batch-size is per rank. The command for several nodes is printed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adiff_env.planners.preset import load_preset
    from adiff_env.planners.train import train_planner

    from adiff_env.distributed import ddp

    if args.resume and args.run_dir is None:
        raise ValueError("--resume needs --run-dir naming the run to continue.")
    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}.")
    preset = load_preset(args.preset)
    top = {"env": args.env_id}
    if args.dataset:
        top["dataset"] = args.dataset
    if args.name:
        top["name"] = args.name
    train = {k: v for k, v in {
        "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
        "eval_every": args.eval_every, "eval_episodes": args.eval_episodes, "amp": args.amp, "compile": args.compile,
        "ddp_noise": args.ddp_noise,
    }.items() if v is not None}
    for key, value in train.items():
        if key in ("amp", "compile", "ddp_noise"):
            continue
        if key != "seed" and key != "eval_every" and value < 1 or key == "eval_every" and value < 0:
            raise ValueError(f"--{key.replace('_', '-')} must be positive, got {value}.")
    import dataclasses

    preset = dataclasses.replace(preset.replace(train=train), **top)
    if args.nproc > 1 and not ddp.under_torchrun():
        return _launch(args, preset)
    with ddp.process_group(args.device) as (world, device):
        result = train_planner(preset, run_dir=args.run_dir, resume=args.resume, device=device, progress=not args.quiet)
    if result.checkpoint is None:  # ranks other than 0
        return 0
    print(f"registered {result.checkpoint.spec} at {result.checkpoint.path}")
    print(f"run dir {result.run_dir} ({result.steps} steps, {result.wall_s:.0f} s, final loss {result.final_loss:.4f})")
    if result.scores:
        print(f"last evaluation: {result.scores}")
    return 0


def _launch(args: argparse.Namespace, preset) -> int:
    """Run this command as ``--nproc`` torchrun ranks; every rank gets the same run dir."""
    import minari

    from adiff_env.distributed import ddp
    from adiff_env.planners.train import default_run_dir

    if preset.dataset not in minari.list_local_datasets():
        raise FileNotFoundError(f"dataset {preset.dataset!r} is not in MINARI_DATASETS_PATH; collect it first, e.g. "
                                "'adiff datasets collect --recipe datasets/pointmaze-umaze.toml'.")
    run_dir = args.run_dir or default_run_dir(preset.name)
    argv = child_argv(args, run_dir)
    print(f"training on {args.nproc} ranks (torchrun, {ddp.backend_for(args.device)}), global batch "
          f"{preset.train.batch_size} x {args.nproc} = {preset.train.batch_size * args.nproc}")
    print(f"on several nodes, run on each (same endpoint and id; --nnodes = node count):\n  {ddp.multinode_hint(args.nproc, argv)}")
    return ddp.launch(args.nproc, argv)


def child_argv(args: argparse.Namespace, run_dir: Path) -> list[str]:
    """The ``adiff`` arguments each rank runs: this command without ``--nproc``, with ``--run-dir``."""
    argv = ["--threads", str(args.threads)] if getattr(args, "threads", None) else []
    argv += ["train", args.env_id, "--preset", str(args.preset), "--run-dir", str(run_dir), "--device", args.device]
    for flag in ("dataset", "name", "steps", "batch_size", "seed", "eval_every", "eval_episodes", "amp", "ddp_noise"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    for flag in ("resume", "compile", "quiet"):
        if getattr(args, flag):
            argv.append(f"--{flag}")
    return argv
