"""Compute the D4RL-style reference scores of the adiff/ PointMaze ids and store them.

    uv run python benchmarks/compute_maze_refs.py [--episodes 100] [--out envs/mazes/references.json]

For every registered maze id: ref_min = mean return of a uniform random policy, ref_max = mean
return of D4RL's waypoint expert (P=10, D=-1, switch at 0.1), each over ``--episodes`` episodes
with reset seeds 0..N-1 (the random policy's action sampler is seeded with 0); the tuned expert's
mean return is recorded alongside. The JSON also records the layout, goal cell and coins the
scores belong to (the env applies them only to that exact maze), the seeds, package versions and
the git commit. Registration (``adiff_env/envs/__init__.py``) reads the file at import.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from adiff_env.agents import RandomAgent
from adiff_env.assets import asset_path
from adiff_env.evaluation import run_episodes
from adiff_env.maze import MAZE_PRESETS
from adiff_env.maze.expert import make_expert


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def compute(env_id: str, episodes: int) -> dict:
    env = gym.make(env_id)
    try:
        agents = {
            "random": RandomAgent(env.action_space, seed=0),
            "expert": make_expert(env, tuned=False),
            "expert_tuned": make_expert(env, tuned=True),
        }
        stats = {}
        for name, agent in agents.items():
            returns, successes, _ = run_episodes(env, agent, episodes, seed=0)
            stats[name] = (float(np.mean(returns)), float(np.std(returns)), float(np.mean(successes)))
        u = env.unwrapped
        lo, hi = stats["random"][0], stats["expert"][0]
        return {
            "ref_min_score": lo,
            "ref_max_score": hi,
            "expert_tuned_return": stats["expert_tuned"][0],
            "expert_tuned_normalized_x100": 100.0 * (stats["expert_tuned"][0] - lo) / (hi - lo),
            "return_std": {k: v[1] for k, v in stats.items()},
            "success_rate": {k: v[2] for k, v in stats.items()},
            "max_episode_steps": env.spec.max_episode_steps,
            "layout": u.layout.to_text(),
            "goal_cell": list(u.eval_goal_cell),
            "coins": [list(c) for c in u.coin_cells],
        }
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=asset_path("envs", "mazes", "references.json"))
    parser.add_argument("--ids", nargs="*", default=list(MAZE_PRESETS), help="env ids (default: all adiff/ mazes)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = {env_id: compute(env_id, args.episodes) for env_id in tqdm(args.ids, desc="mazes")}
    doc = {
        "protocol": (
            "D4RL normalized score: (return - ref_min_score) / (ref_max_score - ref_min_score); ref_min = uniform "
            "random policy, ref_max = D4RL waypoint expert (P=10, D=-1, switch 0.1), each the mean return over "
            f"{args.episodes} episodes with reset seeds 0..{args.episodes - 1}."
        ),
        "episodes": args.episodes,
        "seeds": [0, args.episodes - 1],
        "git_commit": _git_commit(),
        "versions": {p: version(p) for p in ("gymnasium", "gymnasium-robotics", "mujoco", "numpy")},
        "wall_s": round(time.perf_counter() - start, 1),
        "envs": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, args.out)
    for env_id, r in results.items():
        print(
            f"{env_id:<38} ref_min {r['ref_min_score']:7.2f}  ref_max {r['ref_max_score']:7.2f}  "
            f"tuned {r['expert_tuned_return']:7.2f} ({r['expert_tuned_normalized_x100']:.1f} x100)"
        )
    print(f"wrote {args.out} in {doc['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
