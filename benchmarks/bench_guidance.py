"""How far each guidance method moves a planner's plans toward gold coins (the "when each works" table).

Planner ``pointmaze-medium-evo`` on ``adiff/PointMaze-Medium-GoldCoin-v0`` (2 coins). For each
reset seed the planner's own conditioning is built (start state, goal from the geodesic deadline
index ``j`` on) and ``--plans`` open-loop plans are drawn with
``TrajectoryPlanner.sample_plans(s, goal, j, n, guide=..., guidance=...)`` (DDIM-10 unless
``--sampler``/``--steps``), guided by the coin reward's torch form (``CoinReward``: minus the
softmin distance to each coin; optional ``--free-cells`` weight adds the wall-penetration
penalty). Per method and scale it reports, over all plans (no ranking):

- ``coins``: coins passed within 0.5 by the planned positions up to the goal index (of 2);
- ``coin_dist``: mean over coins of the plan's closest approach to the coin (graded: how far the
  guidance moved the plan toward the coins even where it does not reach them);
- ``in_wall``: share of planned positions inside wall cells;
- ``jump``: median over plans of the largest step between consecutive planned positions after
  index 1 (the ball moves <= ~0.075 per step; a plan that jumps is not followable); ``jump0``:
  median distance from the pinned start to the plan's index 1;
- ``ms``: median wall time per ``sample_plans`` call (all plans of one seed in one batch).

``--closed-loop N`` also acts N episodes per configuration (reset seeds ``--closed-seed`` + i):
every replan is guided by the coins not yet taken (the reward is rebuilt from
``env.unwrapped.coins_collected``), the best of ``--plans`` candidates by the same reward is
followed; it reports coins collected and goal success. The planner's ``plan`` method is replaced
on the instance for this (as self-evolution's closed-loop generation does), so the planner
code is unchanged.

    uv run python benchmarks/bench_guidance.py --seeds 8 --plans 8 --json-out guidance.jsonl
    uv run python benchmarks/bench_guidance.py --methods x0 --scales 0.1 --closed-loop 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from adiff_env.diffusion import GuidanceConfig
from adiff_env.evaluation import run_episodes
from adiff_env.evolve.rewards import Composite, planner_guide
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.rewards import CoinReward, FreeCellReward
from adiff_env.planners.trajectory import TrajectoryPlanner
from adiff_env.registry import ModelRegistry, git_commit

DEFAULT_GRID = {"xt": [0.3, 3.0, 30.0], "dps": [0.3, 3.0, 30.0], "x0": [0.1, 0.3, 1.0, 3.0]}


def coin_reward(env: Any, free_cells: float, collected: Any = None, temperature: float = 0.1) -> Any:
    coins = CoinReward(env.unwrapped.coin_positions, collected=collected, temperature=temperature)
    if free_cells <= 0:
        return coins
    return Composite([(1.0, coins), (free_cells, FreeCellReward(env.unwrapped.maze))])


def plan_metrics(pos: np.ndarray, j: int, coins: np.ndarray, geometry: MazeGeometry) -> dict[str, float]:
    """``pos [H, 2]`` planned positions; the plan is scored up to its goal index ``j``."""
    p = pos[: j + 1]
    d = np.linalg.norm(p[:, None, :] - coins[None], axis=-1)
    return {
        "coins": float(np.sum(d.min(axis=0) <= 0.5)),
        "coin_dist": float(np.mean(d.min(axis=0))),
        "in_wall": float(np.mean(geometry.in_wall(p))),
        "jump": float(np.max(np.linalg.norm(np.diff(p[1:], axis=0), axis=1))) if len(p) > 2 else 0.0,
        "jump0": float(np.linalg.norm(p[1] - p[0])) if len(p) > 1 else 0.0,
    }


def open_loop(planner: TrajectoryPlanner, env: Any, guidance: GuidanceConfig | None, args: argparse.Namespace) -> dict[str, Any]:
    geometry = env.unwrapped.geometry
    coins = np.asarray(env.unwrapped.coin_positions).reshape(-1, 2)
    rows, times = [], []
    a = planner.action_dim
    for k in range(args.seeds):
        obs, _ = env.reset(seed=args.seed + k)
        s, goal = np.asarray(obs["observation"], np.float64), np.asarray(obs["desired_goal"], np.float64)
        j = int(np.clip(planner.initial_deadline(s, goal), 1, planner.horizon - 1))
        planner.generator.manual_seed(args.seed + k)
        guide = planner_guide(coin_reward(env, args.free_cells, temperature=args.coin_temperature), planner.normalizer, a) if guidance else None
        tic = time.perf_counter()
        out = planner.sample_plans(s, goal, j, args.plans, guide=guide, guidance=guidance)
        times.append(time.perf_counter() - tic)
        plans = planner.normalizer.unnormalize(out.samples.detach().cpu().numpy().astype(np.float64))
        rows += [plan_metrics(p[:, a : a + 2], j, coins, geometry) for p in plans]
    return {
        "coins": float(np.mean([r["coins"] for r in rows])),
        "coin_dist": float(np.mean([r["coin_dist"] for r in rows])),
        "in_wall": float(np.mean([r["in_wall"] for r in rows])),
        "jump": float(np.median([r["jump"] for r in rows])),
        "jump0": float(np.median([r["jump0"] for r in rows])),
        "ms": 1000 * statistics.median(times),
        "plans": len(rows),
    }


def closed_loop(planner: TrajectoryPlanner, env: Any, guidance: GuidanceConfig | None, args: argparse.Namespace) -> dict[str, Any]:
    a = planner.action_dim
    original = TrajectoryPlanner.plan

    def guided_plan(s: np.ndarray, goal: np.ndarray, steps_left: int) -> np.ndarray:
        if guidance is None:
            return original(planner, s, goal, steps_left)
        reward = coin_reward(env, args.free_cells, collected=env.unwrapped.coins_collected.copy(),
                             temperature=args.coin_temperature)
        guide = planner_guide(reward, planner.normalizer, a)

        def rank(x: torch.Tensor) -> torch.Tensor:
            return reward.torch_reward(planner.normalizer.unnormalize(x)[..., a:])

        tic = time.perf_counter()
        out = planner.sample_plans(s, goal, steps_left, args.plans, guide=guide, guidance=guidance, reward_fn=rank)
        planner.plan_times.append(time.perf_counter() - tic)
        planner.plans_made += 1
        return planner.normalizer.unnormalize(out.best.detach().cpu().numpy().astype(np.float64))

    planner.plan = guided_plan  # instance attribute: the class is untouched
    planner.reset()
    coins: list[float] = []
    returns, successes, _ = run_episodes(env, planner, args.closed_loop, seed=args.closed_seed, coins=coins)
    del planner.plan
    scorer = env.unwrapped.get_normalized_score
    return {"cl_coins": float(np.mean(coins)), "cl_success": float(np.mean(successes)),
            "cl_score_x100": float(100 * np.mean([scorer(r) for r in returns])), "cl_episodes": len(returns)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--planner", default="pointmaze-medium-evo")
    p.add_argument("--env", default="adiff/PointMaze-Medium-GoldCoin-v0")
    p.add_argument("--methods", nargs="+", default=["xt", "dps", "x0"])
    p.add_argument("--scales", nargs="+", type=float, default=None, help="scales for every method (default: a grid per method)")
    p.add_argument("--n-guide-steps", type=int, default=2)
    p.add_argument("--recurrence-steps", type=int, default=0)
    p.add_argument("--t-recurrence", type=int, default=0)
    p.add_argument("--sampler", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seeds", type=int, default=8, help="reset seeds --seed .. --seed + N - 1")
    p.add_argument("--seed", type=int, default=40_000)
    p.add_argument("--plans", type=int, default=8, help="plans per seed (open loop) / candidates per replan (closed loop)")
    p.add_argument("--coin-temperature", type=float, default=0.1,
                   help="softmin temperature over time of the coin reward (larger spreads the pull over more steps)")
    p.add_argument("--t-stopgrad", type=int, default=0, help="x0-space methods: no edit at steps t < this (xt keeps 2)")
    p.add_argument("--free-cells", type=float, default=0.0, help="weight of the free-cells term in the guiding reward")
    p.add_argument("--closed-loop", type=int, default=0, help="also act this many episodes per configuration")
    p.add_argument("--closed-seed", type=int, default=40_000)
    p.add_argument("--no-open-loop", action="store_true")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="acting overrides, e.g. subgoal_cells=0 (values parsed as JSON, else strings)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json-out", default=None, help="append one JSON line per configuration here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    env = gym.make(args.env)
    overrides = {k: v for k, v in {"sampler": args.sampler, "sampler_steps": args.steps}.items() if v is not None}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    planner = TrajectoryPlanner.from_checkpoint(ModelRegistry().load(args.planner), env, **overrides)
    configs: list[tuple[str, float]] = [("none", 0.0)]
    for m in args.methods:
        configs += [(m, s) for s in (args.scales or DEFAULT_GRID[m])]
    header = {"planner": planner.name, "env": args.env, "sampler": planner.act.sampler, "steps": planner.sampler_steps,
              "seed": args.seed, "seeds": args.seeds, "plans": args.plans, "free_cells": args.free_cells, "coin_temperature": args.coin_temperature, "t_stopgrad": args.t_stopgrad,
              "n_guide_steps": args.n_guide_steps, "recurrence_steps": args.recurrence_steps,
              "t_recurrence": args.t_recurrence, "act": overrides, "git_commit": git_commit(), "argv": sys.argv[1:]}
    print(json.dumps(header))
    print(f"{'method':<6} {'scale':>7} {'coins':>6} {'c_dist':>6} {'in_wall':>8} {'jump':>6} {'jump0':>6} {'ms':>7}  closed loop")
    for method, scale in configs:
        guidance = None if method == "none" else GuidanceConfig(
            scale=scale, method=method, n_guide_steps=args.n_guide_steps, t_stopgrad=args.t_stopgrad if method != "xt" else 2,
            recurrence_steps=args.recurrence_steps, t_recurrence=args.t_recurrence)
        row: dict[str, Any] = {"method": method, "scale": scale}
        if not args.no_open_loop:
            row.update(open_loop(planner, env, guidance, args))
        if args.closed_loop:
            row.update(closed_loop(planner, env, guidance, args))
        ol = (f"{row['coins']:6.2f} {row['coin_dist']:6.2f} {row['in_wall']:8.3f} {row['jump']:6.3f} {row['jump0']:6.3f} {row['ms']:7.1f}"
              if "coins" in row else " " * 44)
        cl = (f"  coins {row['cl_coins']:.2f} success {row['cl_success']:.2f} score {row['cl_score_x100']:.1f}"
              if "cl_coins" in row else "")
        print(f"{method:<6} {scale:7.3g} {ol}{cl}", flush=True)
        if args.json_out:
            with open(args.json_out, "a") as fh:
                fh.write(json.dumps({**header, **row}) + "\n")
    env.close()


if __name__ == "__main__":
    main()
