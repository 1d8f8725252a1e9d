"""``adiff train ENV_ID --dataset ID --preset planners/pointmaze-umaze.toml``: train a planner."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from adiff_env.planners.preset import load_preset
    from adiff_env.planners.train import train_planner

    if args.resume and args.run_dir is None:
        raise ValueError("--resume needs --run-dir naming the run to continue.")
    preset = load_preset(args.preset)
    top = {"env": args.env_id}
    if args.dataset:
        top["dataset"] = args.dataset
    if args.name:
        top["name"] = args.name
    train = {k: v for k, v in {
        "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
        "eval_every": args.eval_every, "eval_episodes": args.eval_episodes,
    }.items() if v is not None}
    for key, value in train.items():
        if key != "seed" and key != "eval_every" and value < 1 or key == "eval_every" and value < 0:
            raise ValueError(f"--{key.replace('_', '-')} must be positive, got {value}.")
    import dataclasses

    preset = dataclasses.replace(preset.replace(train=train), **top)
    result = train_planner(preset, run_dir=args.run_dir, resume=args.resume, device=args.device, progress=not args.quiet)
    print(f"registered {result.checkpoint.spec} at {result.checkpoint.path}")
    print(f"run dir {result.run_dir} ({result.steps} steps, {result.wall_s:.0f} s, final loss {result.final_loss:.4f})")
    if result.scores:
        print(f"last evaluation: {result.scores}")
    return 0
