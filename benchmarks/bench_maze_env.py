"""Steps/s of our maze env against raw gymnasium-robotics PointMaze, in one run.

    uv run python benchmarks/bench_maze_env.py [--steps 20000] [--reps 5] [--maze UMaze]

Both envs step the same pre-drawn action sequence (uniform in [-1, 1]^2) with a reset at each
time limit; repetitions alternate ours / raw so machine load hits both alike, and the median of
each is reported. Two levels: through ``gym.make`` (TimeLimit + OrderEnforcing + env checker
wrappers, what users get) and the bare ``env.unwrapped``. Goal: ratio ours / raw >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym
import gymnasium_robotics
import numpy as np

import adiff_env  # noqa: F401  (registers the adiff/ ids)

gym.register_envs(gymnasium_robotics)

RAW_IDS = {"UMaze": "PointMaze_UMaze-v3", "Medium": "PointMaze_Medium-v3", "Large": "PointMaze_Large-v3"}


def steps_per_s(env: gym.Env, actions: np.ndarray, horizon: int) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for i, action in enumerate(actions):
        env.step(action)
        if (i + 1) % horizon == 0:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--maze", choices=list(RAW_IDS), default="UMaze")
    args = parser.parse_args(argv)
    ours_id, raw_id = f"adiff/PointMaze-{args.maze}-v0", RAW_IDS[args.maze]
    ours, raw = gym.make(ours_id), gym.make(raw_id)
    horizon = ours.spec.max_episode_steps
    raw = gym.make(raw_id, max_episode_steps=horizon)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(args.steps, 2)).astype(np.float32)
    results = {}
    for level in ("gym.make", "unwrapped"):
        a, b = (ours, raw) if level == "gym.make" else (ours.unwrapped, raw.unwrapped)
        rates: dict[str, list[float]] = {"ours": [], "raw": []}
        for _ in range(args.reps):
            rates["ours"].append(steps_per_s(a, actions, horizon))
            rates["raw"].append(steps_per_s(b, actions, horizon))
        med = {k: statistics.median(v) for k, v in rates.items()}
        results[level] = {"ours_steps_per_s": med["ours"], "raw_steps_per_s": med["raw"], "ratio": med["ours"] / med["raw"]}
        print(f"{level:<10} ours {med['ours']:8.0f} steps/s   raw {med['raw']:8.0f} steps/s   ratio {med['ours'] / med['raw']:.3f}")
    ours.close()
    raw.close()
    print(json.dumps({"maze": args.maze, "steps": args.steps, "reps": args.reps, **results}))
    return results


if __name__ == "__main__":
    main()
