"""Where the time of one ``TrajectoryPlanner.plan`` call at batch 1 goes, part by part.

For each PLANNER[:SAMPLER:STEPS] (one torch thread), times the whole call and each piece it is
made of on the same start state (U-Maze reset seed 40000 by default): the conditioner
(normalize + inpainting mask), the global condition, the initial noise, one denoiser forward
(eager and traced, ``act.compile="trace"``), one scheduler step, one inpainting apply, the
unnormalization of the best plan, and the ``eval()``/``train()`` walk over all modules that
every call paid up to commit a9d9525. The parts are timed one call each, interleaved round-robin
over ``--rounds`` rounds (so a busy shared machine slows every part alike); the minimum (the
closest a loaded machine gets to an idle one), the 10th percentile and the median are reported,
in microseconds.

    uv run python benchmarks/profile_plan.py --env adiff/PointMaze-UMaze-v0 pointmaze-umaze-distilled pointmaze-umaze:ddim:1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import gymnasium as gym
import numpy as np
import torch

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.planners.parts import global_condition
from adiff_env.planners.trajectory import TrajectoryPlanner
from adiff_env.registry import ModelRegistry, git_commit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+", help="PLANNER[:SAMPLER:STEPS]")
    p.add_argument("--env", default="adiff/PointMaze-UMaze-v0")
    p.add_argument("--seed", type=int, default=40_000)
    p.add_argument("--rounds", type=int, default=300, help="timed calls of each part")
    args = p.parse_args()
    torch.set_num_threads(1)
    env = gym.make(args.env)
    obs, _ = env.reset(seed=args.seed)
    s, g = np.asarray(obs["observation"], np.float64), np.asarray(obs["desired_goal"], np.float64)
    print(json.dumps({"env": args.env, "seed": args.seed, "load_average": os.getloadavg(), "git_commit": git_commit(),
                      "argv": sys.argv[1:]}))
    for cfg in args.configs:
        name, *rest = cfg.split(":")
        over = {"sampler": rest[0], "sampler_steps": int(rest[1])} if rest else {}
        eager = TrajectoryPlanner.from_checkpoint(ModelRegistry().load(name), env, **over)
        traced = TrajectoryPlanner.from_checkpoint(ModelRegistry().load(name), env, compile="trace", **over)
        j = min(eager.initial_deadline(s, g), eager.horizon - 1)  # as plan() clips it (a short-horizon student)
        cond = eager.conditioner(s, g, j)
        h, a, d = eager.horizon, eager.action_dim, eager.action_dim + eager.obs_dim
        x = torch.randn(1, h, d)
        vec = torch.randn(1, eager.obs_dim + len(eager.task.goal_dims) + 1) if eager.global_cond else None
        t = torch.full((1,), int(eager.scheduler.timesteps[0]))
        best = eager.sample_plans(s, g, j, 1).best
        parts = {
            "plan, eager forward (total)": lambda: eager.plan(s, g, j),
            "plan, traced forward (total)": lambda: traced.plan(s, g, j),
            "denoiser forward, eager": lambda: eager.model(x, t, vec),
            "denoiser forward, traced": lambda: traced.denoiser(x, t, vec),
            "eval() + train() walk (removed)": lambda: (eager.model.eval(), eager.model.train(False)),
            "conditioner (normalize + mask)": lambda: eager.conditioner(s, g, j),
            "global condition": lambda: global_condition(cond.values[0, a:][None], cond.values[j, eager._goal_cols][None],
                                                         torch.full((1,), j), h),
            "initial noise": lambda: torch.randn((1, h, d), generator=eager.generator),
            "scheduler.step": lambda: eager.scheduler.step(x, int(t), x),
            "inpainting apply": lambda: cond.apply(x),
            "best plan -> numpy, unnormalize": lambda: eager.normalizer.unnormalize(best.cpu().numpy().astype(np.float64)),
        }
        print(f"{cfg} ({eager.act.sampler}-{eager.sampler_steps}, "
              f"{sum(q.numel() for q in eager.model.parameters())} parameters)")
        times: dict[str, list[float]] = {label: [] for label in parts}
        with torch.inference_mode():
            for r in range(args.rounds + 3):  # 3 rounds of warm-up (the traces are made there)
                for label, fn in parts.items():
                    tic = time.perf_counter()
                    fn()
                    if r >= 3:
                        times[label].append(1e6 * (time.perf_counter() - tic))
        print(f"  {'part':<36} {'min us':>9} {'p10 us':>9} {'median us':>10}")
        for label, ts in times.items():
            print(f"  {label:<36} {min(ts):9.1f} {np.percentile(ts, 10):9.1f} {np.median(ts):10.1f}")
    env.close()


if __name__ == "__main__":
    main()
