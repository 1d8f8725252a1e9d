"""Final-step success and failure phases of Fetch push planners, all episodes stepped together.

    uv run python benchmarks/bench_fetch_push.py --agents 'planner:fetch-push@v3' 'planner:fetch-push?n_samples=4' \\
        --episodes 100 --seed 40000 [--batch 50] [--json-out FILE]

For each agent spec (any ``planner:`` spec, acting options after ``?``): ``--episodes`` episodes
of ``adiff/FetchPush-v0`` with reset seeds ``seed .. seed + N - 1``, ``--batch`` envs stepped
together (one batched sampler call per step, :func:`adiff_env.manipulation.rollouts.run_batch`);
success = ``info["is_success"]`` at the last step (the evaluation protocol), "ever" = at any
step, and each episode's failure phase (:func:`adiff_env.manipulation.diagnose.push_phase`).
The episodes are those of ``adiff evaluate --seed S --episodes N`` (same reset seeds, same
rule); only the sampler's noise draws differ (one generator for the batch). The record carries
the seeds, the agent spec, the checkpoint and the git commit.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env._provenance import git_commit
from adiff_env.agents import make_agent
from adiff_env.manipulation.diagnose import phase_counts, phase_rows, push_phase
from adiff_env.manipulation.rollouts import run_batch, table_height


def run(spec: str, env_id: str, episodes: int, seed: int, batch: int) -> dict:
    make = lambda: gym.make(env_id)  # noqa: E731
    probe = make()
    try:
        agent = make_agent(spec, probe)
        tic = time.perf_counter()
        rollouts = run_batch(make, agent, [seed + i for i in range(episodes)], batch_size=batch, progress=True, desc=spec)
        wall = time.perf_counter() - tic
        phases = [push_phase(r, table_height(probe)) for r in rollouts]
    finally:
        probe.close()
    stats = agent.eval_stats() if callable(getattr(agent, "eval_stats", None)) else {}
    return {"agent": spec, "checkpoint": stats.get("checkpoint"), "env": env_id, "episodes": episodes,
            "seeds": [seed, seed + episodes - 1], "batch": batch,
            "success_rate": float(np.mean([r.success for r in rollouts])),
            "ever_success_rate": float(np.mean([r.ever for r in rollouts])), "phases": phase_counts(phases),
            "wall_s": round(wall, 1), "episodes_per_s": round(episodes / wall, 3), "git_commit": git_commit(),
            "failures": [row for row in phase_rows(phases) if row["phase"] != "ok"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", nargs="+", required=True, help="agent specs, e.g. 'planner:fetch-push?n_samples=4'")
    p.add_argument("--env", default="adiff/FetchPush-v0", help="env id (default adiff/FetchPush-v0)")
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--seed", type=int, default=40_000)
    p.add_argument("--batch", type=int, default=50, help="envs stepped together (default 50)")
    p.add_argument("--json-out", help="also write the rows here")
    args = p.parse_args()
    if args.episodes < 1 or args.batch < 1:
        p.error(f"--episodes and --batch must be >= 1, got {args.episodes} and {args.batch}")
    torch.set_num_threads(1)
    rows = []
    for spec in args.agents:
        rows.append(run(spec, args.env, args.episodes, args.seed, args.batch))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "failures"}), flush=True)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
