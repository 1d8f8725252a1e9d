"""Vectorized planning: episodes/s with N envs batched vs the same N envs one at a time.

Both runs use the same vector env (gymnasium Async or Sync, autoreset off), the same agent spec
and the same reset seeds; only the agent differs: *batched* is one TrajectoryPlanner that plans
for every sub-env due a plan in one sampler call, *per-env* is one planner per sub-env (N
sampler calls of batch 1). Default agent: the shipped U-Maze planner.

    uv run python benchmarks/bench_vector.py                                   # 8 envs, 8 episodes
    uv run python benchmarks/bench_vector.py --envs 8 --episodes 16 --max-episode-steps 100 --json out.json
    uv run python benchmarks/bench_vector.py --device cuda                     # where a GPU exists

Prints episodes/s, env steps/s and plans per sampler call for both, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch

from adiff_env.bench.vector import evaluate_vector


def run(agent: str, env_id: str, n_envs: int, episodes: int, mode: str, max_steps: int | None,
        options: dict, per_env: bool) -> dict:
    kwargs = {"max_episode_steps": max_steps} if max_steps else None
    res = evaluate_vector(env_id, agent, episodes, seed=0, n_envs=n_envs, mode=mode, env_kwargs=kwargs,
                          agent_options=options or None, force_per_env=per_env, progress=True,
                          desc="per-env" if per_env else "batched")
    calls = res.extra.get("plan_calls")
    return {
        "mode": "per-env" if per_env else "batched", "episodes": episodes, "wall_s": res.wall_s,
        "episodes_per_s": episodes / res.wall_s, "steps_per_s": res.steps_per_s,
        "score_x100": res.normalized_score_x100_mean, "plan_ms_median": res.extra.get("plan_ms_median"),
        "plans": res.extra.get("plans"), "plan_calls": calls,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent", default="planner:pointmaze-umaze")
    p.add_argument("--env", default="adiff/PointMaze-UMaze-v0")
    p.add_argument("--envs", type=int, default=8, help="sub-envs (default 8)")
    p.add_argument("--episodes", type=int, default=8, help="episodes per run (default 8)")
    p.add_argument("--max-episode-steps", type=int, help="shorter episodes for a tiny budget")
    p.add_argument("--vector-mode", choices=["async", "sync"], default="async")
    p.add_argument("--steps", type=int, help="sampler steps override")
    p.add_argument("--device", default="cpu", help="torch device of the planner (cpu, cuda)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    options = {"steps": args.steps} if args.steps else {}
    if args.device != "cpu":
        options["device"] = args.device
    rows = [run(args.agent, args.env, args.envs, args.episodes, args.vector_mode, args.max_episode_steps, options, per_env)
            for per_env in (False, True)]
    speedup = rows[0]["episodes_per_s"] / rows[1]["episodes_per_s"]
    print(f"{args.agent} on {args.env}: {args.envs} {args.vector_mode} envs, {args.episodes} episodes"
          f"{f' of {args.max_episode_steps} steps' if args.max_episode_steps else ''}, device {args.device}, "
          f"{args.threads} torch thread(s), {os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    print(f"{'mode':<8} {'episodes/s':>10} {'steps/s':>8} {'plan ms':>8} {'plans/call':>10} {'score':>6}")
    for r in rows:
        per_call = r["plans"] / r["plan_calls"] if r["plan_calls"] else float("nan")
        print(f"{r['mode']:<8} {r['episodes_per_s']:>10.3f} {r['steps_per_s']:>8.0f} {r['plan_ms_median'] or 0:>8.1f} "
              f"{per_call:>10.2f} {r['score_x100'] or 0:>6.1f}")
    print(f"speed-up batched / per-env: {speedup:.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"args": vars(args), "runs": rows, "speedup": speedup}, fh, indent=2)


if __name__ == "__main__":
    main()
