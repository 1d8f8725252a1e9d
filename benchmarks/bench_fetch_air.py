"""Air and table success of Fetch pick-and-place planners (the adaptation figures of docs/fetch-agents.md).

    uv run python benchmarks/bench_fetch_air.py --agents planner:fetch-pick-place-table planner:fetch-pick-place-air \\
        --episodes 50 --seed 70000 [--regions air table] [--json-out FILE]

For each agent and goal region: ``--episodes`` episodes of ``adiff/FetchPickAndPlace-v0`` with
``goal_region=REGION`` and reset seeds ``seed .. seed + N - 1``, all stepped together (one
batched sampler call per step, :func:`adiff_env.manipulation.rollouts.run_batch`); success =
``info["is_success"]`` at the last step (the evaluation protocol), "ever" = at any step. The
episodes are those of ``adiff evaluate --seed S --episodes N`` (same reset seeds, same
rule); only the sampler's noise draws differ (one generator for the batch).
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.manipulation.rollouts import run_batch
from adiff_env.planners.trajectory import TrajectoryPlanner
from adiff_env.registry import ModelRegistry

ENV_ID = "adiff/FetchPickAndPlace-v0"


def run(spec: str, region: str, episodes: int, seed: int, batch: int) -> dict:
    checkpoint = ModelRegistry().load(spec.removeprefix("planner:"), kind="trajectory-planner")
    make = lambda: gym.make(ENV_ID, goal_region=region)  # noqa: E731
    probe = make()
    try:
        planner = TrajectoryPlanner.from_checkpoint(checkpoint, probe, seed=0)
        tic = time.perf_counter()
        rollouts = run_batch(make, planner, [seed + i for i in range(episodes)], batch_size=batch, progress=True,
                             desc=f"{spec} {region}")
        wall = time.perf_counter() - tic
    finally:
        probe.close()
    return {"agent": spec, "checkpoint": checkpoint.spec, "env": f"{ENV_ID}?goal_region={region}", "episodes": episodes,
            "seeds": [seed, seed + episodes - 1], "success_rate": float(np.mean([r.success for r in rollouts])),
            "ever_success_rate": float(np.mean([r.ever for r in rollouts])), "wall_s": round(wall, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", nargs="+", required=True, help="planner specs, e.g. planner:fetch-pick-place-air")
    p.add_argument("--regions", nargs="+", default=["air", "table"], choices=["air", "table", "both"])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=70_000)
    p.add_argument("--batch", type=int, default=50, help="envs stepped together (default 50)")
    p.add_argument("--json-out", help="also write the rows here")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for spec in args.agents:
        for region in args.regions:
            rows.append(run(spec, region, args.episodes, args.seed, args.batch))
            print(json.dumps(rows[-1]), flush=True)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
