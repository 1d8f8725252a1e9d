"""Planning speed of real checkpoints: ms per ``TrajectoryPlanner.plan`` call at batch 1.

Each configuration is ``PLANNER[:SAMPLER:STEPS][?OPT=V&...]`` (default: the checkpoint's own
sampler; options are ``planner:`` acting options, e.g. ``?compile=trace``, plus the bench's own
``before=1``: the model is left in training mode between calls, so every call pays the
``eval()``/``train()`` walk over all modules that every call paid up to commit a9d9525 (the
sampling loop now skips it for a model in eval mode): the old cost, timed in the same run). The
calls are interleaved round-robin (config 1, 2, ..., 1, 2, ...) on the same start states, so a
busy shared machine slows every configuration alike; the median and the 10th percentile
(closest to an idle machine) are reported, with plans/s = 1000 / ms. A call includes
everything acting pays for: the conditioning, the global condition, the sampler loop and the
unnormalization. ``--batch N`` (N > 1) also times ``plan_batch`` on N start states at once (one
sampler call for N envs, as ``adiff bench`` plans over a vector env), interleaved in the same
rounds, and reports ms per batched call and plans/s = N * 1000 / ms.

    uv run python benchmarks/bench_plan_speed.py --env adiff/PointMaze-UMaze-v0 \
        pointmaze-umaze:ddpm:64 pointmaze-umaze:ddim:10 pointmaze-umaze:ddim:1 pointmaze-umaze-distilled --batch 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from adiff_env.planners.kinds import check_planner_options
from adiff_env.planners.trajectory import TrajectoryPlanner
from adiff_env.registry import ModelRegistry, git_commit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+", help="PLANNER[:SAMPLER:STEPS]")
    p.add_argument("--env", default="adiff/PointMaze-UMaze-v0")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--seed", type=int, default=40_000, help="reset seeds of the start states")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1, help="also time plan_batch over this many start states (default 1: off)")
    p.add_argument("--json-out", default=None)
    args = p.parse_args()
    if args.repeats < 1 or args.batch < 1:
        raise SystemExit(f"--repeats and --batch must be >= 1, got {args.repeats} and {args.batch}.")
    torch.set_num_threads(args.threads)
    env = gym.make(args.env)
    planners, before = [], []
    for cfg in args.configs:
        planner, walk = _build(cfg, env)
        planners.append(planner)
        before.append(walk)
    starts = []
    for k in range(max(8, args.batch)):
        obs, _ = env.reset(seed=args.seed + k)
        s, g = np.asarray(obs["observation"], np.float64), np.asarray(obs["desired_goal"], np.float64)
        starts.append((s, g))
    batch_s = np.stack([s for s, _ in starts[: args.batch]])
    batch_g = np.stack([g for _, g in starts[: args.batch]])
    times: list[list[float]] = [[] for _ in planners]
    batch_times: list[list[float]] = [[] for _ in planners]
    for r in range(args.repeats + 3):
        s, g = starts[r % len(starts)]
        for i, planner in enumerate(planners):
            if before[i]:
                planner.model.train()  # sample() then walks eval()/train() around the call, as before
            j = planner.initial_deadline(s, g)
            tic = time.perf_counter()
            planner.plan(s, g, j)
            if r >= 3:  # warm-up
                times[i].append(1000 * (time.perf_counter() - tic))
            if args.batch > 1:
                js = [planner.initial_deadline(bs, bg) for bs, bg in zip(batch_s, batch_g)]
                tic = time.perf_counter()
                planner.plan_batch(batch_s, batch_g, js)
                if r >= 3:
                    batch_times[i].append(1000 * (time.perf_counter() - tic))
    header = {"env": args.env, "load_average": os.getloadavg(), "repeats": args.repeats, "threads": args.threads, "machine": platform.processor() or platform.machine(),
              "git_commit": git_commit(), "argv": sys.argv[1:]}
    print(json.dumps(header))
    batched = f" {'batch ms (median)':>18} {'plans/s batched (median)':>25} {'(p10)':>7}" if args.batch > 1 else ""
    width = max(40, *(len(c) + 20 for c in args.configs))
    print(f"{'config':<{width}} {'median ms':>10} {'p10 ms':>8} {'plans/s (median)':>17} {'plans/s (p10)':>14}{batched}")
    for cfg, planner, ts, bts in zip(args.configs, planners, times, batch_times):
        med, p10 = float(np.median(ts)), float(np.percentile(ts, 10))
        row = {**header, "config": cfg, "sampler": planner.act.sampler, "steps": planner.sampler_steps,
               "parameters": sum(q.numel() for q in planner.model.parameters()), "compile": planner.act.compile,
               "median_ms": med, "p10_ms": p10}
        line = (f"{cfg + ' (' + planner.act.sampler + '-' + str(planner.sampler_steps) + ')':<{width}} {med:10.2f} {p10:8.2f} "
                f"{1000 / med:17.0f} {1000 / p10:14.0f}")
        if bts:
            bmed, bp10 = float(np.median(bts)), float(np.percentile(bts, 10))
            row.update(batch=args.batch, batch_median_ms=bmed, batch_p10_ms=bp10)
            line += f" {bmed:18.2f} {args.batch * 1000 / bmed:25.0f} {args.batch * 1000 / bp10:7.0f}"
        print(line)
        if args.json_out:
            with open(args.json_out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    env.close()


def _build(cfg: str, env: gym.Env) -> tuple[TrajectoryPlanner, bool]:
    """``PLANNER[:SAMPLER:STEPS][?OPT=V&...]`` -> (planner, the bench's ``before`` flag)."""
    spec, _, query = cfg.partition("?")
    name, *rest = spec.split(":")
    over: dict[str, Any] = {"sampler": rest[0], "sampler_steps": int(rest[1])} if rest else {}
    options = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    walk = options.pop("before", "0") not in ("0", "", "false")
    over.update({("sampler_steps" if k == "steps" else k): v for k, v in check_planner_options(options).items()})
    return TrajectoryPlanner.from_checkpoint(ModelRegistry().load(name), env, **over), walk


if __name__ == "__main__":
    main()
