"""Ray rollouts: episodes/s of the maze bench with 1 and N Ray actors (and the local bench).

The workload is one ``adiff bench`` run: agent ``--agent`` (default the shipped U-Maze planner,
batched planning over each cell's sub-envs) on U-Maze, ``--seeds`` cells of ``--episodes``
episodes, ``--vector`` sync sub-envs per cell. It runs locally (this process), then on a local
Ray cluster of N CPUs with 1 actor and with N actors, and checks that the non-timing columns of
results.csv are the same numbers in all three. episodes/s = all episodes / wall of the whole
bench call (Ray start-up excluded: the cluster is started once before).

    uv run --extra ray python benchmarks/bench_ray.py --actors 2 --seeds 4 --episodes 6
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

TIMING = {"wall_s", "steps_per_s", "episodes_per_s", "plan_ms_median"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", default="planner:pointmaze-umaze")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--episodes", type=int, default=6)
    p.add_argument("--vector", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    import ray
    import torch

    from adiff_env.bench.runner import BenchConfig, run_bench

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="adiff-bench-ray-"))
    common = dict(suite="maze", agents=(args.agent,), episodes=args.episodes, seeds=args.seeds, envs=("UMaze",),
                  vector=args.vector, vector_mode="sync", progress=False)
    runs = [("local (this process)", None, None)] + [(f"ray, {n} actor(s)", "", n) for n in sorted({1, args.actors})]
    ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False)
    rows, tables = [], []
    try:
        for label, address, actors in runs:
            out = work / label.split(" ")[0] / str(actors)
            tic = time.perf_counter()
            run_bench(BenchConfig(out=out, ray=address, ray_actors=actors, **common))
            wall = time.perf_counter() - tic
            with (out / "results.csv").open(newline="") as fh:
                table = list(csv.DictReader(fh))
            tables.append([{k: v for k, v in r.items() if k not in TIMING} for r in table])
            episodes = args.seeds * args.episodes
            rows.append({"run": label, "episodes": episodes, "wall_s": wall, "episodes_per_s": episodes / wall,
                         "score_mean": sum(float(r["normalized_score_x100_mean"]) for r in table) / len(table)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        ray.shutdown()
    same = all(t == tables[0] for t in tables)
    one = next(r for r in rows if r["run"] == "ray, 1 actor(s)")["episodes_per_s"]
    print(f"\n{os.cpu_count()} CPUs; agent {args.agent}; {args.seeds} cells x {args.episodes} episodes, "
          f"{args.vector} sync sub-envs per cell; same non-timing rows in every run: {same}")
    print("| run | episodes | wall s | episodes/s | vs 1 actor | score x100 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['episodes']} | {r['wall_s']:.1f} | {r['episodes_per_s']:.3f} | "
              f"{r['episodes_per_s'] / one:.2f}x | {r['score_mean']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "same_rows": same}, indent=2))
    if not same:
        raise SystemExit("the Ray runs gave different rows from the local run")


if __name__ == "__main__":
    main()
