"""User story: collect a small Minari dataset with the noisy expert, read it back, print stats,
and cut it into training windows for a planner.

    uv run python examples/collect_dataset.py --steps 20000

The data goes to $MINARI_DATASETS_PATH (default ~/.minari/datasets) under the id
adiff/example-umaze-v0; a second run replaces it.
"""

from __future__ import annotations

import argparse

import minari
import numpy as np

from adiff_env.datasets.collect import collect_dataset
from adiff_env.datasets.segments import SegmentDataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="adiff/PointMaze-UMaze-v0")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--horizon", type=int, default=128)
    parser.add_argument("--dataset-id", default="adiff/example-umaze-v0")
    args = parser.parse_args(argv)

    result = collect_dataset(args.env, args.steps, noise_std=args.noise, seed=args.seed,
                             dataset_id=args.dataset_id, episode_steps=min(10_000, args.steps),
                             overwrite=True)
    print(f"collected {result.total_steps:,} steps at {result.steps_per_s:,.0f} steps/s -> {result.path}")

    dataset = minari.load_dataset(args.dataset_id)
    episodes = list(dataset.iterate_episodes())
    rewards = np.concatenate([e.rewards for e in episodes])
    actions = np.concatenate([e.actions for e in episodes])
    desired = [e.observations["desired_goal"] for e in episodes]
    goals = sum(int(np.any(d[1:] != d[:-1], axis=1).sum()) for d in desired)
    print(f"episodes: {dataset.total_episodes}, steps: {dataset.total_steps:,}, goals reached: {goals}")
    print(f"reward per step: {rewards.mean():.3f}, |action| mean: {np.abs(actions).mean():.3f}")

    horizon = min(args.horizon, min(len(e.actions) for e in episodes))
    segments = SegmentDataset(dataset, horizon)
    item = segments[0]
    print(f"{segments}: trajectories {tuple(item.trajectories.shape)} "
          f"(actions {segments.action_dim} + observations {segments.observation_dim}), "
          f"{segments.nbytes / 1e6:.1f} MB in arrays")
    goal_segments = SegmentDataset(dataset, horizon, goal_mode="events")
    print(f"goal-reaching windows: {len(goal_segments):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
