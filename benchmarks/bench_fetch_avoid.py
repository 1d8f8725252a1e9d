"""FetchPush-Avoid: zone violations and success of agents, base vs reward-guided planner, on any reset seeds.

    uv run python benchmarks/bench_fetch_avoid.py --seed 70000 --episodes 50 \\
        --agents "expert,planner:fetch-push,planner:fetch-push?reward=task&guidance=x0&guide_scale=3" \\
        --json-out avoid.jsonl

Each agent spec runs ``--episodes`` episodes of ``adiff/FetchPush-Avoid-v0`` with reset seeds
``seed .. seed + N - 1`` through :func:`adiff_env.bench.vector.evaluate_vector` (the
``adiff bench fetch`` protocol; ``adiff bench`` itself fixes the reset seeds to ``s * 10000 + i``,
this script takes any first seed, so guide scales can be chosen on one range and reported on
another). A guided planner (``reward=task``) reads its env's goal and zone at every replan, so it
is built on each sub-env and stepped serially (sync). Per agent it prints and appends one JSON
line: final-step success, ever succeeded, the share of steps with the block's centre in the
forbidden disc (``zone_steps``: mean over episodes of the per-episode share) and of episodes
that entered it (``zone_episodes``), the mean return, plans and wall time, the git commit.

``--open-loop`` measures the plans instead of the episodes: for each reset seed, the first plan
of the episode (same conditioning, same generator seed) of the unguided planner and of the
planner guided by ``reward=task`` at each ``--scales`` value, and per planner the mean number
of planned block positions inside the disc and the share of plans with any::

    uv run python benchmarks/bench_fetch_avoid.py --open-loop --seed 40000 --episodes 20 --scales 1,10
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.bench.vector import evaluate_vector
from adiff_env.registry import git_commit

ENV_ID = "adiff/FetchPush-Avoid-v0"


def run(spec: str, episodes: int, seed: int, vector: int) -> dict:
    result = evaluate_vector(ENV_ID, spec, episodes, seed=seed, n_envs=vector, mode="sync", progress=True, desc=spec)
    extra = result.extra
    return {
        "agent": spec, "env": ENV_ID, "episodes": episodes, "seeds": [seed, seed + episodes - 1],
        "success_rate": result.success_rate, "ever_success_rate": extra.get("ever_success_rate"),
        "zone_steps": extra.get("zone_steps_mean"), "zone_episodes": extra.get("zone_episodes"),
        "return_mean": result.return_mean, "normalized_score_x100_mean": result.normalized_score_x100_mean,
        "plan_ms_median": extra.get("plan_ms_median"), "checkpoint": extra.get("checkpoint"),
        "wall_s": result.wall_s, "git_commit": git_commit(),
    }


def open_loop(planner: str, scales: list[float], episodes: int, seed: int, method: str) -> dict:
    """First plans, unguided vs guided (module doc)."""
    from adiff_env.agents import make_agent

    env = gym.make(ENV_ID)
    try:
        specs = [planner] + [f"{planner}?reward=task&guidance={method}&guide_scale={s}" for s in scales]
        agents = [make_agent(spec, env) for spec in specs]
        u, inside = env.unwrapped, np.zeros((episodes, len(agents)))
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            s, goal = obs["observation"].astype(np.float64), obs["desired_goal"].astype(np.float64)
            j = agents[0].initial_deadline(s, goal)
            for k, agent in enumerate(agents):
                agent.reset()
                agent.generator.manual_seed(seed + i)
                if agent.reward_source is not None:
                    agent.state.reward = agent.reward_source()
                blocks = agent.plan(s, goal, j)[:, agent.action_dim + 3: agent.action_dim + 6]
                inside[i, k] = u.in_zone(blocks).sum()
    finally:
        env.close()
    return {"open_loop": True, "env": ENV_ID, "seeds": [seed, seed + episodes - 1], "guidance": method,
            "agents": specs, "planned_zone_steps_mean": inside.mean(0).tolist(),
            "plans_entering": (inside > 0).mean(0).tolist(), "git_commit": git_commit()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", default="expert,planner:fetch-push",
                        help="comma-separated agent specs (a spec's own options use '&', never ',')")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=70000, help="reset seed of the first episode")
    parser.add_argument("--vector", type=int, default=1, help="sync sub-envs (batched agents step them together)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--open-loop", action="store_true", help="measure first plans, not episodes (module doc)")
    parser.add_argument("--planner", default="planner:fetch-push", help="--open-loop: the planner spec")
    parser.add_argument("--scales", default="1,10", help="--open-loop: comma-separated guide scales")
    parser.add_argument("--guidance", default="x0", help="--open-loop: guidance method")
    parser.add_argument("--json-out", default=None, help="append one JSON line per agent to this file")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.vector < 1:
        raise SystemExit(f"--episodes and --vector must be >= 1, got {args.episodes} and {args.vector}.")
    torch.set_num_threads(args.threads)
    if args.open_loop:
        rows: Iterator[dict] = iter([open_loop(args.planner, [float(v) for v in args.scales.split(",")], args.episodes,
                                               args.seed, args.guidance)])
    else:  # one agent at a time, each row written as soon as it is measured
        rows = (run(spec, args.episodes, args.seed, args.vector)
                for spec in [s.strip() for s in args.agents.split(",") if s.strip()])
    for row in rows:
        print(json.dumps(row), flush=True)
        if args.json_out:
            with open(args.json_out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
