"""Scores of distilled planners against their teacher's samplers on the same reset seeds.

Each AGENT spec (e.g. ``planner:pointmaze-medium-evo?sampler=ddim&steps=10``,
``planner:pointmaze-medium-distilled@v1``) is evaluated on episodes with reset seeds
``--seed .. --seed + episodes - 1``, plans batched over ``--vector`` sub-envs (as ``adiff bench``).
The first spec is the reference: every row also reports the paired return difference (mean
over the same episodes) against it. One JSON line per agent goes to stdout and to ``--json-out``.
``--reference-json FILE`` takes the reference from an earlier run's line instead (the first one
in FILE with the same env, first seed and episode count, e.g. a teacher's DDIM-10 that costs
minutes per episode); then every AGENT is compared with it. Evaluation is deterministic for a
given spec and seeds, so a row re-run on the same code returns the same per-episode returns.

    uv run python benchmarks/distill_scores.py --env adiff/PointMaze-Medium-v0 --episodes 50 --seed 30000 \\
        "planner:pointmaze-medium-evo?sampler=ddim&steps=10" "planner:pointmaze-medium-evo?sampler=ddim&steps=1" \\
        planner:pointmaze-medium-distilled@v1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np
import torch

from adiff_env.bench.vector import evaluate_vector
from adiff_env.registry import git_commit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("agents", nargs="+", help="agent specs; the first is the reference of the paired differences")
    p.add_argument("--env", required=True)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=30_000, help="reset seed of the first episode")
    p.add_argument("--vector", type=int, default=8, help="sub-envs per evaluation (plans batched over them)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-out", default=None)
    p.add_argument("--reference-json", default=None,
                   help="pair against the first line of this JSON-lines file with the same env, seed and episodes")
    args = p.parse_args()
    if args.episodes < 1 or args.vector < 1:
        raise SystemExit(f"--episodes and --vector must be >= 1, got {args.episodes} and {args.vector}.")
    torch.set_num_threads(args.threads)
    reference: list[float] | None = None
    ref_agent = args.agents[0]
    if args.reference_json:
        rows = [json.loads(line) for line in open(args.reference_json) if line.strip()]
        match = [r for r in rows if r.get("env") == args.env and r.get("seed") == args.seed and r.get("episodes") == args.episodes]
        if not match:
            raise SystemExit(f"{args.reference_json} has no line for env {args.env}, seed {args.seed}, {args.episodes} episodes.")
        reference, ref_agent = list(match[0]["returns"]), match[0]["agent"] + f" (from {args.reference_json})"
    for spec in args.agents:
        res = evaluate_vector(args.env, spec, args.episodes, args.seed, n_envs=args.vector, mode="sync", progress=True, desc=spec)
        row = dataclasses.asdict(res)
        if reference is None:
            reference = list(res.returns)
        diff = np.subtract(res.returns, reference)
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        row.update(paired_return_vs_first=float(np.mean(diff)), paired_return_se=se, reference=ref_agent,
                   seeds=[args.seed, args.seed + args.episodes - 1], git_commit=git_commit(), argv=sys.argv[1:])
        line = json.dumps(row)
        print(line, flush=True)
        if args.json_out:
            with open(args.json_out, "a") as fh:
                fh.write(line + "\n")


if __name__ == "__main__":
    main()
