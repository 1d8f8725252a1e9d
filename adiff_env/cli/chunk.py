"""``adiff chunk train``: train the Diffusion-Policy-style action-chunk agent on a Minari dataset.

    adiff chunk train --dataset adiff/fetch-push-v0 --name fetch-push-chunk --steps 5000
        [--eval-episodes 50 --eval-seed 10000] [--set KEY=JSON ...]

The checkpoint lands in the model registry; evaluate it with ``adiff evaluate ENV --agent chunk:NAME``.
Defaults come from :class:`adiff_env.planners.chunk_train.ChunkTrainConfig` (and ``ChunkConfig``
for ``--set chunk.FIELD=...``).
"""

from __future__ import annotations

import argparse
import json

from adiff_env.cli.evaluate import parse_env_kwargs, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chunk", help="action-chunk diffusion policy (Diffusion Policy style): train")
    group = p.add_subparsers(dest="chunk_command", metavar="SUBCOMMAND", required=True)
    t = group.add_parser("train", help="train on a Minari dataset and register the result",
                         description="Train the action-chunk policy on --dataset and register it as --name.")
    t.add_argument("--dataset", required=True, help="Minari dataset id, e.g. adiff/fetch-push-v0")
    t.add_argument("--name", required=True, help="registry name, e.g. fetch-push-chunk")
    t.add_argument("--steps", type=positive_int, help="gradient steps (default: ChunkTrainConfig.steps)")
    t.add_argument("--seed", type=int, help="seed (default 0)")
    t.add_argument("--eval-episodes", type=int, help="episodes of the final evaluation (default 0: none)")
    t.add_argument("--eval-seed", type=int, help="first reset seed of the final evaluation (default 10000)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="ChunkTrainConfig field (batch_size, lr, dim...) or chunk.FIELD (chunk.action_horizon...)")
    t.add_argument("--device", default="cpu", help="torch device (default cpu)")
    t.add_argument("--json", action="store_true", help="print the result as one JSON object")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from adiff_env.planners.chunk_policy import ChunkConfig
    from adiff_env.planners.chunk_train import ChunkTrainConfig, train_chunk_policy

    overrides = parse_env_kwargs(args.set, "--set")
    chunk = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("chunk.")}
    fields = {k: v for k, v in overrides.items() if not k.startswith("chunk.")}
    known = {f.name for f in dataclasses.fields(ChunkTrainConfig)} - {"dataset", "name", "chunk"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"--set: unknown ChunkTrainConfig field(s) {unknown}; known: {sorted(known)}.")
    for flag, key in ((args.steps, "steps"), (args.seed, "seed"), (args.eval_episodes, "eval_episodes"),
                      (args.eval_seed, "eval_seed")):
        if flag is not None:
            fields[key] = flag
    if "dim_mults" in fields:
        fields["dim_mults"] = tuple(fields["dim_mults"])
    if "obs_keys" in chunk:
        chunk["obs_keys"] = tuple(chunk["obs_keys"])
    config = ChunkTrainConfig(dataset=args.dataset, name=args.name, chunk=ChunkConfig(**chunk), **fields)
    result = train_chunk_policy(config, device=args.device, progress=not args.quiet)
    out = {"checkpoint": result.checkpoint.spec, "steps": result.steps, "wall_s": round(result.wall_s, 1),
           "final_loss": result.final_loss, "pairs": result.pairs, "scores": result.scores}
    print(json.dumps(out) if args.json else "\n".join(f"{k:<12} {v}" for k, v in out.items()))
    return 0
