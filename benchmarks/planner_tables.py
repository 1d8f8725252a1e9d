"""The planner's figures: fixed-goal and multi-task scores, and sampler speed vs score.

    uv run python benchmarks/planner_tables.py scores --maze umaze --episodes 100
    uv run python benchmarks/planner_tables.py speed --maze umaze --episodes 30
    uv run python benchmarks/planner_tables.py scores --maze large --agents planner:pointmaze-large expert-tuned
    uv run python benchmarks/planner_tables.py scores --maze large --agents "planner:pointmaze-large?subgoal_cells=2"

``scores``: each agent on the D4RL protocol (fixed goal, reset seeds 0..N-1) and on the
multi-task protocol of Diffuser (a random start and goal cell per episode, drawn with
``np.random.default_rng(12345)``, the same pairs for every agent), both normalized with the
env's references (random = 0, D4RL expert = 100), as Diffuser normalizes its multi-task table.
``speed``: one planner checkpoint with DDPM at its training step count and DDIM at 20/10/5
steps, in one run: median ms per plan at batch 1, plans/s, and the fixed-goal score.
Runs torch on one thread. Prints Markdown and appends JSON lines to ``--out`` (default out/planner_tables.jsonl).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.bench.specs import parse_bench_agent
from adiff_env.evaluation import run_episodes

ENVS = {"umaze": "adiff/PointMaze-UMaze-v0", "medium": "adiff/PointMaze-Medium-v0", "large": "adiff/PointMaze-Large-v0"}


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append ``rows`` to ``path`` as JSON lines, each stamped with the time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for r in rows:
            fh.write(json.dumps({**r, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def multitask_pairs(env: gym.Env, n: int, seed: int = 12345) -> list[dict]:
    """``n`` random (reset_cell, goal_cell) pairs of distinct free cells."""
    free = list(env.unwrapped.start_cells)
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        a, b = rng.choice(len(free), size=2, replace=False)
        pairs.append({"reset_cell": tuple(int(v) for v in free[a]), "goal_cell": tuple(int(v) for v in free[b])})
    return pairs


def run(env_id: str, spec: str, episodes: int, multitask: bool, options: dict | None = None) -> dict:
    env = gym.make(env_id)
    try:
        parsed = parse_bench_agent(spec)  # KIND[:ARG][?KEY=VALUE&...], as adiff bench
        agent = make_agent(parsed.spec, env, {**parsed.options, **(options or {})})
        pairs = multitask_pairs(env, episodes) if multitask else None
        tic = time.perf_counter()
        returns, successes, _ = run_episodes(env, agent, episodes, seed=0, progress=True, desc=f"{spec} {'multi' if multitask else 'fixed'}",
                                             episode_options=(lambda i: pairs[i]) if pairs else None)
        wall = time.perf_counter() - tic
        scores = 100 * np.array([env.unwrapped.get_normalized_score(r) for r in returns])
        out = {"env": env_id, "agent": spec, "protocol": "multi-task" if multitask else "fixed-goal", "episodes": episodes,
               "x100_mean": float(scores.mean()), "x100_sem": float(scores.std() / np.sqrt(len(scores))),
               "success_rate": float(np.mean(successes)), "wall_s": round(wall, 1), **(options or {})}
        if hasattr(agent, "eval_stats"):
            stats = agent.eval_stats()
            out.update(plan_ms_median=stats["plan_ms_median"], sampler=stats["sampler"], steps=stats["steps"])
        return out
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["scores", "speed"])
    parser.add_argument("--maze", choices=list(ENVS), default="umaze")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--agents", nargs="*", help="agent specs (scores; default planner:pointmaze-MAZE expert expert-tuned)")
    parser.add_argument("--protocols", choices=["both", "fixed-goal", "multi-task"], default="both", help="scores: which protocols to run")
    parser.add_argument("--out", type=Path, default=Path("out/planner_tables.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    env_id = ENVS[args.maze]
    rows = []
    if args.what == "scores":
        agents = args.agents or [f"planner:pointmaze-{args.maze}", "expert", "expert-tuned"]
        for spec in agents:
            for multitask in {"both": (False, True), "fixed-goal": (False,), "multi-task": (True,)}[args.protocols]:
                rows.append(run(env_id, spec, args.episodes, multitask))
                print(json.dumps(rows[-1]), flush=True)
        print(f"\n| agent | protocol | {env_id} x100 | success |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['agent']} | {r['protocol']} | {r['x100_mean']:.1f} ± {r['x100_sem']:.1f} | {r['success_rate']:.0%} |")
    else:
        spec = (args.agents or [f"planner:pointmaze-{args.maze}"])[0]
        for sampler, steps in (("ddpm", 0), ("ddim", 20), ("ddim", 10), ("ddim", 5)):
            rows.append(run(env_id, spec, args.episodes, False, {"sampler": sampler, "steps": steps}))
            print(json.dumps(rows[-1]), flush=True)
        print(f"\n| sampler | steps | ms/plan (median) | plans/s | {env_id} x100 | success |\n|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['sampler']} | {r['steps']} | {r['plan_ms_median']:.1f} | {1000 / r['plan_ms_median']:.1f} | "
                  f"{r['x100_mean']:.1f} ± {r['x100_sem']:.1f} | {r['success_rate']:.0%} |")
    append_jsonl(args.out, rows)


if __name__ == "__main__":
    main()
