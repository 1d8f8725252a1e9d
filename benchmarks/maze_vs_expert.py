"""Planners against the tuned expert and the score ceiling, paired on the same reset seeds.

    uv run python benchmarks/maze_vs_expert.py --env adiff/PointMaze-Medium-v0 --episodes 50 --seed 70000 \\
        planner:pointmaze-medium-evo planner:pointmaze-medium-distilled "planner:pointmaze-medium-evo?rank=progress&n_samples=8"

Every agent (``expert-tuned`` is always run first, as the reference) plays the episodes with
reset seeds ``--seed .. --seed + episodes - 1``, plans batched over ``--vector`` sub-envs in a
sync vector env (``adiff bench``'s path; each episode is reset with its own seed whichever
sub-env runs it). On the same episodes ``adiff_env.maze.bounds.return_upper_bound`` gives the
ceiling (no policy can return more). Each row reports the normalized score x100, the success
rate, the paired score difference against the tuned expert (mean over the same episodes, with
its standard error) and the share of the expert-to-ceiling gap the agent closes. One JSON line
per agent (with the seeds, the argv and the git commit) goes to stdout and to ``--json-out``;
a markdown table follows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.bench.vector import evaluate_vector
from adiff_env.maze.bounds import OpenRoom, return_upper_bound
from adiff_env.registry import git_commit

REFERENCE = "expert-tuned"


def ceiling_returns(env_id: str, episodes: int, seed: int) -> np.ndarray:
    """The return bound ``[episodes]`` of each episode (reset seeds ``seed + i``)."""
    env = gym.make(env_id)
    try:
        with OpenRoom(env) as room:
            out = []
            for i in range(episodes):
                obs, _ = env.reset(seed=seed + i)
                out.append(return_upper_bound(env, obs, room)[0])
        return np.asarray(out, dtype=np.float64)
    finally:
        env.close()


def x100(env_id: str, returns: np.ndarray) -> np.ndarray:
    """Per-episode normalized scores x100 (the env's references)."""
    env = gym.make(env_id)
    try:
        return 100 * np.array([float(env.unwrapped.get_normalized_score(r)) for r in returns])
    finally:
        env.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("agents", nargs="*", help="agent specs (the tuned expert is run first in any case)")
    p.add_argument("--env", required=True)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=70_000, help="reset seed of the first episode")
    p.add_argument("--vector", type=int, default=8, help="sub-envs per evaluation (plans batched over them)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-out", default=None)
    args = p.parse_args()
    if args.episodes < 2 or args.vector < 1:
        raise SystemExit(f"--episodes must be >= 2 and --vector >= 1, got {args.episodes} and {args.vector}.")
    torch.set_num_threads(args.threads)
    bound = x100(args.env, ceiling_returns(args.env, args.episodes, args.seed))
    specs = [REFERENCE] + [a for a in args.agents if a != REFERENCE]
    expert: np.ndarray | None = None
    rows = []
    for spec in specs:
        res = evaluate_vector(args.env, spec, args.episodes, args.seed, n_envs=args.vector, mode="sync", progress=True, desc=spec)
        score = x100(args.env, np.asarray(res.returns, dtype=np.float64))
        expert = score if expert is None else expert
        diff = score - expert
        row = dataclasses.asdict(res)
        row.update(
            score_x100=float(score.mean()), ceiling_x100=float(bound.mean()),
            vs_expert_x100=float(diff.mean()), vs_expert_se=float(diff.std(ddof=1) / np.sqrt(len(diff))),
            gap_closed=float(diff.mean() / (bound.mean() - expert.mean())) if bound.mean() > expert.mean() else None,
            seeds=[args.seed, args.seed + args.episodes - 1], git_commit=git_commit(), argv=sys.argv[1:],
        )
        rows.append(row)
        line = json.dumps(row)
        print(line, flush=True)
        if args.json_out:
            with open(args.json_out, "a") as fh:
                fh.write(line + "\n")
    print(f"\n{args.env}, reset seeds {args.seed}-{args.seed + args.episodes - 1}, ceiling {bound.mean():.1f}\n")
    print("| agent | score x100 | success | vs tuned expert (paired, ± s.e.) | below ceiling |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['agent']}` | {r['score_x100']:.1f} | {100 * r['success_rate']:.0f}% | "
              f"{r['vs_expert_x100']:+.1f} ± {r['vs_expert_se']:.1f} | {r['ceiling_x100'] - r['score_x100']:.1f} |")


if __name__ == "__main__":
    main()
