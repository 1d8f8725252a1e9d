"""Self-evolution rounds with generation in this process vs on Ray actors (``adiff maze evolve --ray``).

Runs the same maze evolution twice with the same ``--actors`` generation shards: once with the
shards one after the other here (``LocalExecutor``, what ``adiff maze evolve --shards N`` does),
once on ``--actors`` Ray actors of a local Ray cluster (``RayGenerationExecutor``, ``--ray
--ray-actors N``). Prints per round: the generation wall (generation + consistency filter:
what moves to the actors), the whole round's wall (generation, buffer, fine-tuning,
evaluation; the loop's ``RoundRecord.wall_s``), and checks that both runs put the same
trajectories in their buffers.

The base is the shipped U-Maze planner (``pointmaze-umaze``) registered in a scratch
registry with its training dataset replaced by a small U-Maze dataset collected here
(``--collect`` steps, the shipped 1M-step recipe takes too long to collect for a timing
run; fine-tuning mixes this one in). Generation is closed-loop (``--generation``): the shipped
planner's open-loop plans do not pass the filter (docs/benchmarks.md), so open-loop rounds
would end with an empty buffer. Ray start-up (the cluster) is timed apart; the actors start
in round 1's generation, which includes their start-up.

    uv run python benchmarks/bench_ray_evolve.py --actors 2 --samples 8 --rounds 2 --workdir /tmp/bench-ray-evolve
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # workers on this venv (distributed/ray_bench.py)


class Timed:
    """An executor wrapper that records each round's generation wall."""

    def __init__(self, inner):
        self.inner, self.walls = inner, []

    def generate(self, domain, current, round_index):
        tic = time.perf_counter()
        out = self.inner.generate(domain, current, round_index)
        self.walls.append(time.perf_counter() - tic)
        return out

    def close(self):
        self.inner.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--actors", type=int, default=2, help="Ray actors = generation shards (default 2)")
    p.add_argument("--samples", type=int, default=8, help="start/goal pairs per round (default 8)")
    p.add_argument("--candidates", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--generation", default="closed-loop", choices=["open-loop", "closed-loop"])
    p.add_argument("--finetune-steps", type=int, default=20)
    p.add_argument("--eval-episodes", type=int, default=2)
    p.add_argument("--collect", type=int, default=20_000)
    p.add_argument("--workdir", default="bench-ray-evolve-out")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    work = Path(args.workdir).resolve()
    os.environ["ADIFF_HOME"] = str(work / "home")
    os.environ.setdefault("MINARI_DATASETS_PATH", str(work / "minari"))
    import minari
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from adiff_env.datasets.collect import collect_dataset
    from adiff_env.distributed.ray_bench import connect
    from adiff_env.distributed.ray_evolve import RayGenerationExecutor
    from adiff_env.evolve.generation import LocalExecutor
    from adiff_env.evolve.loop import EvolutionLoop
    from adiff_env.maze.evolve import MazeEvolveConfig, MazeEvolveDomain
    from adiff_env.registry import ModelRegistry

    env_id, dataset = "adiff/PointMaze-UMaze-v0", "bench/umaze-evolve-v0"
    if dataset not in minari.list_local_datasets():
        collect_dataset(env_id, args.collect, seed=0, dataset_id=dataset, progress=False)
    registry = ModelRegistry()
    if not registry.versions("bench-umaze"):
        shipped = registry.load("pointmaze-umaze")
        config = {**shipped.config, "preset": {**shipped.config["preset"], "dataset": dataset}}
        registry.save("bench-umaze", shipped.metadata, tensors=shipped.tensors, config=config)
    tic = time.perf_counter()
    connect(None, args.actors)
    ray_start = time.perf_counter() - tic
    results = {}
    for mode in ("local", "ray"):
        inner = LocalExecutor() if mode == "local" else RayGenerationExecutor(args.actors)
        timed = Timed(inner)
        cfg = MazeEvolveConfig(env_id=env_id, base="planner:bench-umaze", name=f"bench-evolve-{mode}", rounds=args.rounds,
                               samples=args.samples, candidates=args.candidates, generation=args.generation,
                               finetune_steps=args.finetune_steps, eval_episodes=args.eval_episodes, shards=args.actors,
                               workdir=str(work / f"evolve-{mode}-{time.strftime('%H%M%S')}"))
        loop = EvolutionLoop(MazeEvolveDomain(cfg), registry=registry, progress=False, executor=timed)
        try:
            state = loop.run()
        finally:
            timed.close()
        results[mode] = {"generation_s": timed.walls, "round_s": [r.wall_s for r in state.rounds],
                         "generated": [r.generated for r in state.rounds], "kept": [r.kept for r in state.rounds],
                         "buffer": loop.buffer}
    same = len(results["local"]["buffer"]) == len(results["ray"]["buffer"]) and all(
        all(np.array_equal(a[k], b[k]) for k in a) for a, b in zip(results["local"]["buffer"].items, results["ray"]["buffer"].items))
    print(f"\n{os.cpu_count()} CPUs; U-Maze, shipped pointmaze-umaze planner, {args.generation} generation, "
          f"{args.samples} pairs x {args.candidates} candidates per round in {args.actors} shards, fine-tuning "
          f"{args.finetune_steps} steps, {args.eval_episodes} evaluation episodes; Ray cluster start-up {ray_start:.1f} s")
    print("| run | round | kept/generated | generation s | round s | generation speed-up |")
    print("|---|---|---|---|---|---|")
    for mode in ("local", "ray"):
        r = results[mode]
        for k in range(len(r["round_s"])):
            speed = results["local"]["generation_s"][k] / r["generation_s"][k]
            label = "local (shards in turn)" if mode == "local" else f"ray, {args.actors} actors"
            print(f"| {label} | {k + 1} | {r['kept'][k]}/{r['generated'][k]} | {r['generation_s'][k]:.1f} | "
                  f"{r['round_s'][k]:.1f} | {speed:.2f}x |")
    print(f"same buffer (every trajectory, in order): {same}")
    if args.json:
        Path(args.json).write_text(json.dumps({m: {k: v for k, v in r.items() if k != "buffer"} for m, r in results.items()}
                                              | {"same_buffer": same, "ray_start_s": ray_start}, indent=2))


if __name__ == "__main__":
    main()
