"""Success rate and speed of the scripted Fetch experts (env + expert on one core).

    uv run python benchmarks/bench_fetch_expert.py [--episodes 1000] [--noise 0.0] [--seed 0]
        [--tasks push pick-table pick-air pick-both avoid] [--json-out FILE]

For each task: ``--episodes`` episodes with reset seeds ``seed .. seed + N - 1``; success = the
env's ``info["is_success"]`` at the last step (the evaluation protocol), "ever" = at any step;
steps/s = env steps per wall second of env + expert in this process (one thread); cpu steps/s =
per second of this process's CPU time (the one-core figure on a shared, loaded machine).
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.manipulation.expert import make_fetch_expert

TASKS = {
    "push": ("adiff/FetchPush-v0", {}),
    "pick-table": ("adiff/FetchPickAndPlace-v0", {"goal_region": "table"}),
    "pick-air": ("adiff/FetchPickAndPlace-v0", {"goal_region": "air"}),
    "pick-both": ("adiff/FetchPickAndPlace-v0", {"goal_region": "both"}),
    "avoid": ("adiff/FetchPush-Avoid-v0", {}),
}


def run(task: str, episodes: int, noise: float, seed: int) -> dict:
    env_id, kwargs = TASKS[task]
    env = gym.make(env_id, **kwargs)
    expert = make_fetch_expert(env, noise_std=noise, seed=seed)
    final, ever, returns, zone_steps, steps = [], [], [], [], 0
    failed_seeds = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in tqdm(range(episodes), desc=task, leave=False):
        obs, info = env.reset(seed=seed + i)
        done, total, hit, inside = False, 0.0, False, 0
        while not done:
            action, _ = expert.predict(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            steps += 1
            hit = hit or info["is_success"]
            inside += int(info.get("in_zone", False))
            done = terminated or truncated
        final.append(info["is_success"])
        ever.append(hit)
        returns.append(total)
        zone_steps.append(inside)
        if not info["is_success"]:
            failed_seeds.append(seed + i)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    env.close()
    out = {
        "task": task, "env": env_id, "env_kwargs": kwargs, "episodes": episodes, "noise_std": noise,
        "seeds": [seed, seed + episodes - 1], "success_rate": float(np.mean(final)),
        "ever_success_rate": float(np.mean(ever)), "return_mean": float(np.mean(returns)),
        "steps_per_s": steps / wall, "cpu_steps_per_s": steps / cpu, "wall_s": wall, "failed_seeds": failed_seeds[:20],
    }
    if task == "avoid":
        out["zone_steps_mean"] = float(np.mean(zone_steps))
        out["episodes_entering_zone"] = float(np.mean(np.array(zone_steps) > 0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--json-out", default=None, help="append one JSON line per task to this file")
    args = parser.parse_args(argv)
    for task in args.tasks:
        r = run(task, args.episodes, args.noise, args.seed)
        print(f"{task:<11} success {r['success_rate']:.1%} (ever {r['ever_success_rate']:.1%})  return "
              f"{r['return_mean']:.2f}  {r['steps_per_s']:.0f} steps/s ({r['cpu_steps_per_s']:.0f} per CPU s)  failed seeds {r['failed_seeds'][:8]}"
              + (f"  zone: {r['episodes_entering_zone']:.1%} of episodes" if task == "avoid" else ""))
        if args.json_out:
            with open(args.json_out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
