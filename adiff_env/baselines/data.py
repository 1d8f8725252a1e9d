"""Goal-conditioned transitions from a Minari dataset, with hindsight goal relabelling.

The datasets are recorded on a *continuing* task: the desired goal changes each time it is
reached, so each transition's goal is only one of many it could serve. Every sampled batch
therefore relabels a share ``relabel_prob`` of its transitions with a *future* achieved goal
of the same episode (HER's "future" strategy, Andrychowicz et al. 2017): for transition ``t``
a goal ``g = achieved_{t+1+k}``, ``k ~ U{0, .., min(max_goal_offset, T - 1 - t)}``; the rest
keep the data's own desired goal. Rewards are recomputed from the goal, the env's own rule:

    r_t = 1  if ||achieved_{t+1} - g|| <= 0.5  else 0

and transitions never terminate (the evaluation task pays 1 per step at the goal and runs to
the time limit, so the value of a goal is reaching it and staying; ``done`` is all zeros, as in
D4RL's maze2d, which has timeouts only).

Batches are dicts of float32 tensors: ``x [B, O + G]`` (observation, goal), ``action [B, A]``,
``reward [B]``, ``next_x [B, O + G]`` (next observation, same goal), ``done [B]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from adiff_env.errors import UnknownNameError

GOAL_RADIUS = 0.5


@dataclass
class GoalTransitions:
    """All transitions of a dataset, episodes concatenated (``N`` rows).

    ``obs``/``next_obs [N, O]``, ``action [N, A]``, ``goal [N, G]`` (the data's desired goal),
    ``achieved_next [N, G]`` (achieved goal after the step), ``end [N]`` (index one past the
    last row of the row's episode)."""

    obs: np.ndarray
    next_obs: np.ndarray
    action: np.ndarray
    goal: np.ndarray
    achieved_next: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def dims(self) -> dict[str, int]:
        return {"obs_dim": self.obs.shape[1], "goal_dim": self.goal.shape[1], "action_dim": self.action.shape[1]}

    def input_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std ``[O + G]`` of the network input (goals take the achieved-goal stats)."""
        x = np.concatenate([self.obs, self.achieved_next], axis=1)
        return x.mean(0), x.std(0)

    def sample(
        self, batch_size: int, rng: np.random.Generator, relabel_prob: float = 0.8, max_goal_offset: int = 300,
        goal_radius: float = GOAL_RADIUS,
    ) -> dict[str, torch.Tensor]:
        """A relabelled batch (see the module docstring; ``goal_radius`` replaces 0.5, e.g. 0.05 on Fetch)."""
        idx = rng.integers(0, len(self), size=batch_size)
        goal = self.goal[idx].copy()
        relabel = rng.random(batch_size) < relabel_prob
        span = np.minimum(max_goal_offset, self.end[idx] - 1 - idx)
        k = np.floor(rng.random(batch_size) * (span + 1)).astype(np.int64)
        goal[relabel] = self.achieved_next[(idx + k)[relabel]]
        reward = (np.linalg.norm(self.achieved_next[idx] - goal, axis=1) <= goal_radius).astype(np.float32)
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        return {
            "x": as_t(np.concatenate([self.obs[idx], goal], axis=1)),
            "action": as_t(self.action[idx]),
            "reward": as_t(reward),
            "next_x": as_t(np.concatenate([self.next_obs[idx], goal], axis=1)),
            "done": torch.zeros(batch_size),
        }


def load_goal_transitions(
    dataset_id: str, obs_key: str = "observation", goal_key: str = "desired_goal", achieved_key: str = "achieved_goal"
) -> GoalTransitions:
    """Read every episode of a local Minari dataset (GoalEnv dict observations) into arrays."""
    import minari

    local = minari.list_local_datasets()
    if dataset_id not in local:
        raise UnknownNameError("dataset id", dataset_id, local)
    dataset = minari.load_dataset(dataset_id)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "next_obs", "action", "goal", "achieved_next", "end")}
    offset = 0
    for episode in dataset.iterate_episodes():
        obs = episode.observations
        if not isinstance(obs, dict) or not {obs_key, goal_key, achieved_key} <= set(obs):
            have = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
            raise ValueError(
                f"dataset {dataset_id!r} needs GoalEnv dict observations with keys {obs_key!r}, {goal_key!r}, "
                f"{achieved_key!r}; it has {have}. Collect it from an adiff/PointMaze-* env."
            )
        T = len(episode.actions)
        if T == 0:
            continue
        state = np.asarray(obs[obs_key], dtype=np.float32).reshape(T + 1, -1)
        parts["obs"].append(state[:-1])
        parts["next_obs"].append(state[1:])
        parts["action"].append(np.asarray(episode.actions, dtype=np.float32).reshape(T, -1))
        parts["goal"].append(np.asarray(obs[goal_key], dtype=np.float32).reshape(T + 1, -1)[:-1])
        parts["achieved_next"].append(np.asarray(obs[achieved_key], dtype=np.float32).reshape(T + 1, -1)[1:])
        offset += T
        parts["end"].append(np.full(T, offset, dtype=np.int64))
    if offset == 0:
        raise ValueError(f"dataset {dataset_id!r} has no transitions.")
    return GoalTransitions(**{k: np.concatenate(v) for k, v in parts.items()})
