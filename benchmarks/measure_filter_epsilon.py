"""Measure the consistency filter's deviations to choose its epsilon.

Feasible plans: (a) horizon-H windows of a noisy-expert dataset (the D4RL recipe, noise 0.5),
(b) noise-free D4RL-expert rollouts; infeasible: straight plans through a wall. Each plan is
replayed through the filter's PD tracker in the real env; prints percentiles of the max
position deviation.

    uv run python benchmarks/measure_filter_epsilon.py --env adiff/PointMaze-Medium-v0 --steps 20000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import gymnasium as gym
import numpy as np

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.maze.expert import make_expert
from adiff_env.maze.filter import ConsistencyFilter, FilterConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="adiff/PointMaze-Medium-v0")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--windows", type=int, default=200)
    ap.add_argument("--horizon", type=int, default=128)
    args = ap.parse_args()
    os.environ.setdefault("MINARI_DATASETS_PATH", tempfile.mkdtemp())
    import minari

    from adiff_env.datasets.collect import collect_dataset

    env = gym.make(args.env)
    filt = ConsistencyFilter(env, FilterConfig(epsilon=1e9))
    rng = np.random.default_rng(0)
    out = {}

    collect_dataset(args.env, args.steps, seed=0, dataset_id="bench/eps-v0", episode_steps=5000, progress=False, overwrite=True)
    ds = minari.load_dataset("bench/eps-v0")
    episodes = list(ds.iterate_episodes())
    devs = []
    for _ in range(args.windows):
        ep = episodes[rng.integers(len(episodes))]
        obs, goals = ep.observations["observation"], ep.observations["desired_goal"]
        s = rng.integers(0, len(obs) - args.horizon)
        devs.append(filt.check(obs[s: s + args.horizon], goals[s]).deviation)
    out["dataset_windows"] = devs

    devs = []
    for seed in range(20):
        o, _ = env.reset(seed=seed)
        expert = make_expert(env)
        states = [o["observation"]]
        for _ in range(args.horizon - 1):
            a, _ = expert.predict(o)
            o, *_ = env.step(a)
            states.append(o["observation"])
        devs.append(filt.check(np.array(states), o["desired_goal"]).deviation)
    out["expert_rollouts"] = devs

    # through a wall: a straight line between the centres of two free cells with a wall between
    maze, layout = env.unwrapped.maze, env.unwrapped.layout
    dt = env.unwrapped.point_env.dt
    devs = []
    for (r, c) in layout.free:
        for dr, dc in ((2, 0), (0, 2)):
            a, b = (r, c), (r + dr, c + dc)
            mid = (r + dr // 2, c + dc // 2)
            if layout.is_free(b) and not layout.is_free(mid):
                pa, pb = maze.cell_rowcol_to_xy(np.array(a)), maze.cell_rowcol_to_xy(np.array(b))
                n = 40
                pos = pa + np.linspace(0, 1, n)[:, None] * (pb - pa)
                vel = np.gradient(pos, axis=0) / dt
                devs.append(filt.check(np.concatenate([pos, vel], 1), pb).deviation)
    out["through_wall"] = devs
    for k, v in out.items():
        v = np.array(v)
        print(f"{k:16s} n={len(v):3d} max-deviation p50={np.percentile(v, 50):.3f} p95={np.percentile(v, 95):.3f} "
              f"p99={np.percentile(v, 99):.3f} min={v.min():.3f} max={v.max():.3f}")
    print(json.dumps({k: [round(float(x), 3) for x in v] for k, v in out.items()})[:400])


if __name__ == "__main__":
    main()
