"""Shared wrappers: episode statistics with the normalized score, and goal flattening.

- :class:`EpisodeScore` adds, at the end of every episode, ``info["episode"]`` with the return
  ``r``, length ``l`` and (where the env has reference scores) ``normalized_score`` (0-1
  scale) and ``normalized_score_x100`` (the literature's scale), so training loops log the
  same figure ``adiff evaluate`` reports.
- :func:`flatten_goal` turns a GoalEnv dict observation (``observation``, ``achieved_goal``,
  ``desired_goal``, maybe more keys) into one flat ``Box`` for algorithms without HER (PPO, BC).
  Keys are concatenated in the order given (default: observation, desired_goal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np


class EpisodeScore(gym.Wrapper):
    """Adds ``info["episode"] = {"r", "l", "normalized_score", "normalized_score_x100"}`` at
    the end of each episode (the score keys only where the env defines reference scores)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._return, self._length = 0.0, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._return, self._length = 0.0, 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self._return += float(reward)
        self._length += 1
        if terminated or truncated:
            episode: dict[str, float] = {"r": self._return, "l": self._length}
            scorer = getattr(self.env.unwrapped, "get_normalized_score", None)
            if scorer is not None:
                score = float(scorer(self._return))
                episode.update(normalized_score=score, normalized_score_x100=100.0 * score)
            info = {**info, "episode": episode}
        return obs, reward, terminated, truncated, info


def flatten_goal(env: gym.Env, keys: Sequence[str] = ("observation", "desired_goal")) -> gym.Env:
    """A flat ``Box`` observation made of ``keys`` of a dict observation, in that order."""
    space = env.observation_space
    if not isinstance(space, gym.spaces.Dict):
        raise TypeError(f"flatten_goal needs a Dict observation space, got {type(space).__name__}.")
    missing = [k for k in keys if k not in space.spaces]
    if missing:
        raise ValueError(f"flatten_goal: keys {missing} are not in the observation; it has {sorted(space.spaces)}.")
    parts = [space.spaces[k] for k in keys]
    if not all(isinstance(p, gym.spaces.Box) for p in parts):
        raise TypeError(f"flatten_goal concatenates Box entries; {dict(zip(keys, parts))} are not all Box spaces.")
    box = gym.spaces.Box(
        low=np.concatenate([p.low.ravel() for p in parts]).astype(np.float64),
        high=np.concatenate([p.high.ravel() for p in parts]).astype(np.float64),
        dtype=np.float64,
    )
    return gym.wrappers.TransformObservation(
        env, lambda obs: np.concatenate([np.asarray(obs[k], dtype=np.float64).ravel() for k in keys]), box
    )


def flat_size(env: gym.Env) -> int:
    """Length of a flattened observation (after :func:`flatten_goal`)."""
    return int(np.prod(env.observation_space.shape))
