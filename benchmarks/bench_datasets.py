"""Benchmark: dataset collection steps/s and the memory of the segment dataset.

    uv run python benchmarks/bench_datasets.py                # full: 100k-step timings x3, 1M-step memory
    uv run python benchmarks/bench_datasets.py --steps 20000 --collector-steps 20000 --memory-steps 100000

Collection: the same noisy-expert recipe timed four ways on one env, in one run:
  loop only       env + expert, nothing recorded (the floor)
  buffers w=1     our recorder, one process, minari.create_dataset_from_buffers
  buffers w=N     the same in N worker processes
  collector       minari.DataCollector wrapper, one process
Memory: a dataset of --memory-steps steps is collected, then a fresh process measures the RSS
before and after building ``SegmentDataset`` (horizon 128; plain and goal-reaching windows) and
the bytes held in its arrays. Everything goes to a temporary MINARI_DATASETS_PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def loop_only(env_id: str, steps: int, episode_steps: int) -> float:
    """Steps/s of env + noisy expert with nothing recorded."""
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ ids)
    from adiff_env.maze.expert import make_expert

    env = gym.make(env_id, reset_target=True, max_episode_steps=episode_steps)
    obs, _ = env.reset(seed=0)
    expert = make_expert(env, noise_std=0.5, seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        action, _ = expert.predict(obs)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    return steps / (time.perf_counter() - start)


def memory_probe(dataset_id: str, horizon: int) -> dict:
    """Run in a fresh process: RSS delta of building the segment datasets."""
    import minari

    from adiff_env.datasets.segments import SegmentDataset

    dataset = minari.load_dataset(dataset_id)
    out = {"rss_before_mb": _rss_mb()}
    for mode in ("none", "events"):
        before = _rss_mb()
        start = time.perf_counter()
        seg = SegmentDataset(dataset, horizon, goal_mode=mode)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        n = 2000
        for i in range(n):
            seg[(i * 7919) % len(seg)]
        out[mode] = {
            "windows": len(seg), "build_s": build_s, "rss_delta_mb": _rss_mb() - before,
            "array_mb": seg.nbytes / 1e6, "items_per_s": n / (time.perf_counter() - start),
        }
        del seg
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="adiff/PointMaze-UMaze-v0")
    parser.add_argument("--steps", type=int, default=100_000, help="steps per collection timing")
    parser.add_argument("--collector-steps", type=int, default=100_000, help="steps for the DataCollector timing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-steps", type=int, default=1_000_000)
    parser.add_argument("--horizon", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.horizon)))
        return 0

    os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp(prefix="adiff-bench-")
    from adiff_env.datasets.collect import collect_dataset

    ep = 10_000
    best: dict[str, tuple[int, int, float]] = {}

    def record(name: str, workers: int, steps: int, sps: float) -> None:
        if name not in best or sps > best[name][2]:
            best[name] = (workers, steps, sps)

    for _rep in range(args.repeats):  # interleaved, best of N: the machine may be shared
        record("loop only (no recording)", 1, args.steps, loop_only(args.env, args.steps, ep))
        for workers in (1, args.workers):
            r = collect_dataset(args.env, args.steps, dataset_id=f"bench/buffers-w{workers}-v0", workers=workers,
                                episode_steps=ep, progress=False, overwrite=True)
            record(f"buffers, {workers} worker(s)", workers, r.total_steps, r.steps_per_s)
        r = collect_dataset(args.env, args.collector_steps, dataset_id="bench/collector-v0",
                            backend="collector", episode_steps=ep, progress=False, overwrite=True)
        record("minari.DataCollector", 1, r.total_steps, r.steps_per_s)
    rows = [(name, *values) for name, values in best.items()]
    print(f"collection on {args.env}, noise 0.5, {os.cpu_count()} CPUs, best of {args.repeats}")
    print(f"{'method':<28} {'procs':>5} {'steps':>10} {'steps/s':>10}")
    for name, workers, steps, sps in rows:
        print(f"{name:<28} {workers:>5} {steps:>10,} {sps:>10,.0f}")

    r = collect_dataset(args.env, args.memory_steps, dataset_id="bench/memory-v0",
                        workers=args.workers, episode_steps=ep, progress=True)
    print(f"\ncollected {r.total_steps:,} steps in {r.wall_s:.1f} s ({r.steps_per_s:,.0f} steps/s, "
          f"{args.workers} workers)")
    probe = subprocess.run(
        [sys.executable, __file__, "--probe", r.dataset_id, "--horizon", str(args.horizon)],
        capture_output=True, text=True, check=True, env=os.environ,
    )
    mem = json.loads(probe.stdout.strip().splitlines()[-1])
    print(f"segment dataset, horizon {args.horizon}, {r.total_steps:,} steps "
          f"(process RSS after loading Minari: {mem['rss_before_mb']:.0f} MB)")
    print(f"{'goal mode':<10} {'windows':>10} {'build s':>8} {'RSS delta MB':>13} {'array MB':>9} {'items/s':>9}")
    for mode in ("none", "events"):
        m = mem[mode]
        print(f"{mode:<10} {m['windows']:>10,} {m['build_s']:>8.1f} {m['rss_delta_mb']:>13.0f} "
              f"{m['array_mb']:>9.1f} {m['items_per_s']:>9,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
