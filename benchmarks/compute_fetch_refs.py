"""Compute the reference scores of the adiff/ Fetch ids and store them.

    uv run python benchmarks/compute_fetch_refs.py [--episodes 100] [--out envs/manipulation/references.json]

For each configuration (push; pick-and-place with goal_region table / air / both; push-avoid):
ref_min = mean return of a uniform random policy (action sampler seeded with 0), ref_max = mean
return of the scripted expert (``adiff_env.manipulation.expert``, no noise), each over
``--episodes`` 50-step episodes with reset seeds 0..N-1; success rates (last step, as the
evaluation protocol counts them) are recorded alongside. Registration
(``adiff_env/manipulation/__init__.py``) reads the file at import; an env uses the entry whose
``config`` equals its own.
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

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import RandomAgent
from adiff_env.assets import asset_path
from adiff_env.evaluation import run_episodes
from adiff_env.manipulation.expert import make_fetch_expert

CONFIGS = {
    "adiff/FetchPush-v0": ("adiff/FetchPush-v0", {}),
    "adiff/FetchPickAndPlace-v0?goal_region=table": ("adiff/FetchPickAndPlace-v0", {"goal_region": "table"}),
    "adiff/FetchPickAndPlace-v0?goal_region=air": ("adiff/FetchPickAndPlace-v0", {"goal_region": "air"}),
    "adiff/FetchPickAndPlace-v0?goal_region=both": ("adiff/FetchPickAndPlace-v0", {"goal_region": "both"}),
    "adiff/FetchPush-Avoid-v0": ("adiff/FetchPush-Avoid-v0", {}),
}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def compute(env_id: str, kwargs: dict, episodes: int) -> dict:
    env = gym.make(env_id, **kwargs)
    try:
        agents = {"random": RandomAgent(env.action_space, seed=0), "expert": make_fetch_expert(env)}
        stats = {}
        for name, agent in agents.items():
            ever: list[bool] = []
            returns, successes, _ = run_episodes(env, agent, episodes, seed=0, ever=ever)
            stats[name] = (float(np.mean(returns)), float(np.std(returns)), float(np.mean(successes)), float(np.mean(ever)))
        return {
            "ref_min_score": stats["random"][0],
            "ref_max_score": stats["expert"][0],
            "return_std": {k: v[1] for k, v in stats.items()},
            "success_rate": {k: v[2] for k, v in stats.items()},
            "ever_success_rate": {k: v[3] for k, v in stats.items()},
            "max_episode_steps": env.spec.max_episode_steps,
            "config": env.unwrapped._reference_config(),
        }
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=asset_path("envs", "manipulation", "references.json"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = {key: compute(env_id, kw, args.episodes) for key, (env_id, kw) in tqdm(CONFIGS.items(), desc="fetch")}
    doc = {
        "protocol": (
            "normalized score: (return - ref_min_score) / (ref_max_score - ref_min_score); ref_min = uniform random "
            "policy, ref_max = the scripted expert (adiff_env.manipulation.expert), each the mean return over "
            f"{args.episodes} episodes of 50 steps with reset seeds 0..{args.episodes - 1}. Success (headline) = "
            "info['is_success'] at the last step."
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
    for key, r in results.items():
        print(f"{key:<46} ref_min {r['ref_min_score']:7.2f}  ref_max {r['ref_max_score']:7.2f}  success "
              f"random {r['success_rate']['random']:.0%} expert {r['success_rate']['expert']:.0%}")
    print(f"wrote {args.out} in {doc['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
