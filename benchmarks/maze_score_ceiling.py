"""The highest normalized score any agent can reach on each maze, and a check against real agents.

    uv run python benchmarks/maze_score_ceiling.py [--episodes 100] [--check-agents expert-tuned]

For each episode of the fixed-goal protocol (reset seeds 0..N-1, as ``adiff evaluate`` and the
references) and of the multi-task protocol (``planner_tables.py``'s random start/goal pairs),
``adiff_env.maze.bounds.return_upper_bound`` bounds the return from above: the step limit
minus the fewest steps in which the ball, at full throttle from its initial speed and along the
shortest path through the free cells, can enter the goal disk. The mean bound, normalized with the
env's references, is the score ceiling ×100. ``trivial`` is the ceiling of an agent that starts
inside the goal disk every time (return = step limit).

Each ``--check-agents`` agent is run on the same episodes; a return above its episode's bound
would mean the bound is wrong, and the script then exits with status 1.
Appends JSON lines to ``--out`` (default out/maze_score_ceiling.jsonl).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.evaluation import run_episodes
from adiff_env.maze.bounds import OpenRoom, return_upper_bound

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planner_tables import ENVS, append_jsonl, multitask_pairs  # noqa: E402


def ceiling(env_id: str, episodes: int, multitask: bool, check_agents: list[str]) -> dict:
    env = gym.make(env_id)
    try:
        u = env.unwrapped
        pairs = multitask_pairs(env, episodes) if multitask else None
        options = (lambda i: pairs[i]) if pairs else (lambda i: None)
        bounds, min_steps = [], []
        with OpenRoom(env) as room:  # one speed simulator for all episodes
            for i in tqdm(range(episodes), desc=f"{env_id} bounds", leave=False):
                obs, _ = env.reset(seed=i, options=options(i))
                b, n = return_upper_bound(env, obs, room)
                bounds.append(b)
                min_steps.append(n)
        bounds_arr = np.array(bounds)
        horizon = env.spec.max_episode_steps
        row = {
            "env": env_id, "protocol": "multi-task" if multitask else "fixed-goal", "episodes": episodes,
            "step_limit": horizon, "return_bound_mean": float(bounds_arr.mean()),
            "min_steps_mean": float(np.mean(min_steps)),
            "ceiling_x100": 100 * float(u.get_normalized_score(bounds_arr.mean())),
            "trivial_ceiling_x100": 100 * float(u.get_normalized_score(horizon)),
            "checks": {},
        }
        for spec in check_agents:
            agent = make_agent(spec, env)
            returns, _, _ = run_episodes(env, agent, episodes, seed=0, progress=True, desc=spec, episode_options=options)
            excess = np.asarray(returns) - bounds_arr
            row["checks"][spec] = {
                "x100_mean": 100 * float(u.get_normalized_score(np.mean(returns))),
                "return_minus_bound_max": float(excess.max()),
                "episodes_above_bound": int((excess > 1e-9).sum()),
                "bound_minus_return_mean": float(-excess.mean()),
            }
        return row
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mazes", nargs="*", choices=list(ENVS), default=list(ENVS))
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--check-agents", nargs="*", default=["expert-tuned"], help="agents whose returns must stay under the bound")
    parser.add_argument("--out", type=Path, default=Path("out/maze_score_ceiling.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for maze in args.mazes:
        for multitask in (False, True):
            rows.append(ceiling(ENVS[maze], args.episodes, multitask, args.check_agents))
            print(json.dumps(rows[-1]), flush=True)
    checks = " | ".join(f"{a} ×100 (above bound)" for a in args.check_agents)
    print(f"\n| maze | protocol | step limit | return bound (mean) | ceiling ×100 | trivial ×100 | {checks} |")
    print("|---|---|---|---|---|---|" + "---|" * len(args.check_agents))
    for r in rows:
        cells = " | ".join(f"{c['x100_mean']:.1f} ({c['episodes_above_bound']})" for c in r["checks"].values())
        print(f"| {r['env']} | {r['protocol']} | {r['step_limit']} | {r['return_bound_mean']:.1f} | "
              f"{r['ceiling_x100']:.1f} | {r['trivial_ceiling_x100']:.1f} | {cells} |")
    append_jsonl(args.out, rows)
    violations = sum(c["episodes_above_bound"] for r in rows for c in r["checks"].values())
    if violations:
        print(f"{violations} episode(s) returned more than their bound: the bound is wrong.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
