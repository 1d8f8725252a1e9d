"""Closed-loop figures for rewards that ask something of the route: a forbidden zone and waypoints.

Acts ``--episodes`` episodes (reset seeds ``--seed`` + i) of ``--agent`` on ``--env`` and reports,
besides goal success and the normalized score:

- ``zone_steps``: share of all env steps with the ball inside the cells of ``--zone`` (the
  forbidden region, ``r,c;r,c``); ``zone_episodes``: share of episodes that entered it;
- ``waypoint_pass``: share of episodes whose ball came within 0.5 of the centre of every cell
  of ``--waypoint`` (``r,c;...``), in the given order;
- ``coins_mean``: gold coins collected per episode (coin mazes).

The zone and waypoint given here are only measured; what the agent is guided by is its own
spec (e.g. ``planner:NAME?reward=avoid[3,3]``), so the same zone can be measured for an agent
that ignores it (the expert, the unguided planner)::

    uv run python benchmarks/bench_route_rewards.py --env adiff/PointMaze-Medium-v0 \\
        --agent "planner:pointmaze-medium-evo?reward=avoid[3,3]&guide_scale=0.3" --zone 3,3 --episodes 20 --seed 70000
    uv run python benchmarks/bench_route_rewards.py --env adiff/PointMaze-Medium-v0 \\
        --agent "planner:pointmaze-medium-evo?reward=waypoint[1,1]&guide_scale=0.3" --waypoint 1,1 --episodes 20 --seed 70000
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env._provenance import git_commit
from adiff_env.agents import make_agent
from adiff_env.maze.zones import WAYPOINT_RADIUS, parse_cells


def run(env_id: str, agent_spec: str, episodes: int, seed: int, zone: str | None, waypoint: str | None) -> dict:
    env = gym.make(env_id)
    geometry = env.unwrapped.geometry
    zone_cells = set(parse_cells(zone, geometry, "zone")) if zone else set()
    points = [geometry.cell_center(c) for c in parse_cells(waypoint, geometry, "waypoint")] if waypoint else []
    agent = make_agent(agent_spec, env)
    steps_in, steps_all, entered, passed, successes, coins, scores = 0, 0, 0, 0, 0, [], []
    tic = time.perf_counter()
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        start, total, hit, inside, nxt = True, 0.0, False, False, 0
        while True:
            action, _ = agent.predict(obs, episode_start=start, deterministic=True)
            start = False
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            pos = obs["achieved_goal"]
            if zone_cells and geometry.cell_of(pos) in zone_cells:
                steps_in += 1
                inside = True
            steps_all += 1
            if nxt < len(points) and np.linalg.norm(pos - points[nxt]) <= WAYPOINT_RADIUS:
                nxt += 1
            hit = hit or bool(info.get("success", False))
            if terminated or truncated:
                break
        entered += inside
        passed += nxt == len(points) and bool(points)
        successes += hit
        if "coins_collected" in info:
            coins.append(float(np.sum(info["coins_collected"])))
        scores.append(100 * float(env.unwrapped.get_normalized_score(total)))
    out = {"env": env_id, "agent": agent_spec, "episodes": episodes, "seed": seed, "zone": zone, "waypoint": waypoint,
           "success_rate": successes / episodes, "normalized_score_x100_mean": float(np.mean(scores)),
           "wall_s": time.perf_counter() - tic, "git_commit": git_commit()}
    if zone_cells:
        out.update(zone_steps=steps_in / steps_all, zone_episodes=entered / episodes)
    if points:
        out["waypoint_pass"] = passed / episodes
    if coins:
        out["coins_mean"] = float(np.mean(coins))
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="adiff/PointMaze-Medium-v0")
    ap.add_argument("--agent", required=True)
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=70000)
    ap.add_argument("--zone", default=None, help="cells of the forbidden region to measure, 'r,c;r,c'")
    ap.add_argument("--waypoint", default=None, help="waypoint cells to measure, 'r,c;...' (in order)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(run(args.env, args.agent, args.episodes, args.seed, args.zone, args.waypoint)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
