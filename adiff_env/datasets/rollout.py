"""Rollouts for dataset collection: one episode task -> Minari ``EpisodeBuffer`` objects.

Runs in worker processes (``collect.py`` sends :class:`EpisodeTask` objects to a process
pool) or in the calling process. Episode ``i`` of a collection seeds its reset and its agent
from ``SeedSequence([seed, i])``, so the data does not depend on which process ran it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

AgentFactory = Callable[[gym.Env, float, int, bool], Any]
"""``factory(env, noise_std, seed, tuned) -> agent`` with SB3's ``predict``; must be a
module-level function when ``workers > 1`` (it is sent to worker processes)."""


@dataclass(frozen=True)
class EpisodeTask:
    """``steps`` steps of episode ``index`` of a collection (picklable: sent to workers)."""

    env_id: str
    env_kwargs: dict
    index: int
    steps: int
    seed: int
    noise_std: float
    tuned: bool
    agent_factory: AgentFactory | None = field(default=None)
    noisy_fraction: float = 1.0
    """Share of episodes driven with ``noise_std`` (the others without noise); < 1 labels every
    episode with ``infos["noise_std"]`` (one value per observation)."""


def expert_agent_factory(env: gym.Env, noise_std: float, seed: int, tuned: bool) -> Any:
    """The default agent: the env domain's ``expert`` agent kind (``expert-tuned`` with
    ``tuned``), e.g. the maze waypoint expert (untuned: D4RL's P=10, D=-1, 0.1)."""
    from adiff_env.agents import make_agent

    return make_agent("expert-tuned" if tuned else "expert", env, {"noise_std": noise_std, "seed": seed})


def _episode_seeds(*keys: int) -> tuple[int, int, float]:
    """(reset seed, agent seed, noise draw in [0, 1)) of one episode, from ``SeedSequence(keys)``
    (the first two words do not depend on how many are drawn)."""
    reset_seed, agent_seed, draw = np.random.SeedSequence(list(keys)).generate_state(3, np.uint32)
    return int(reset_seed), int(agent_seed), float(draw) / 2.0**32


def register_envs() -> None:
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)  # the adiff/ ids are registered by ``import adiff_env``


def make_env(env_id: str, env_kwargs: dict) -> gym.Env:
    register_envs()
    return gym.make(env_id, **env_kwargs)


def run_episodes(env: gym.Env, task: EpisodeTask, record: bool) -> list:
    """Step ``env`` for ``task.steps`` steps with the task's agent; return EpisodeBuffers when
    ``record`` (else ``[]``, the DataCollector wrapper records)."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    factory = task.agent_factory or expert_agent_factory
    low, high = env.action_space.low, env.action_space.high
    act_dtype = env.action_space.dtype
    buffers: list = []
    remaining, part = task.steps, 0
    while remaining > 0:
        # Part > 0 when the env ends an episode before the task's budget: a termination (not in
        # the mazes) or a time limit shorter than the task (Fetch: many 50-step episodes per task).
        keys = (task.seed, task.index) if part == 0 else (task.seed, task.index, part)
        reset_seed, agent_seed, draw = _episode_seeds(*keys)
        noise = task.noise_std if draw < task.noisy_fraction else 0.0
        obs, _ = env.reset(seed=reset_seed)
        agent = factory(env, noise, agent_seed, task.tuned)
        obs_rec = _ObsRecorder(obs, remaining + 1) if record else None
        actions = np.empty((remaining, *env.action_space.shape), dtype=act_dtype)
        rewards = np.empty(remaining, dtype=np.float64)
        terms = np.zeros(remaining, dtype=bool)
        truncs = np.zeros(remaining, dtype=bool)
        n, start = 0, True
        while n < remaining:
            action, _ = agent.predict(obs, episode_start=start, deterministic=True)
            start = False
            action = np.clip(np.asarray(action, dtype=act_dtype), low, high)
            obs, reward, terminated, truncated, _ = env.step(action)
            actions[n], rewards[n], terms[n], truncs[n] = action, reward, terminated, truncated
            n += 1
            if obs_rec is not None:
                obs_rec.add(obs)
            if terminated or truncated:
                break
        if not (terms[n - 1] or truncs[n - 1]):
            truncs[n - 1] = True  # the budget ended the episode
        if record:
            buffers.append(
                EpisodeBuffer(
                    seed=reset_seed,
                    observations=obs_rec.result(),
                    actions=actions[:n],
                    rewards=rewards[:n],
                    terminations=terms[:n],
                    truncations=truncs[:n],
                    infos={} if task.noisy_fraction >= 1.0 else {"noise_std": np.full(n + 1, noise)},
                )
            )
        remaining -= n
        part += 1
    return buffers


class _ObsRecorder:
    """Preallocated arrays for a dict (one level) or array observation."""

    def __init__(self, first: Any, capacity: int) -> None:
        self._is_dict = isinstance(first, dict)
        items = first.items() if self._is_dict else [("", first)]
        self._arrays = {k: np.empty((capacity, *np.shape(v)), dtype=np.asarray(v).dtype) for k, v in items}
        self._n = 0
        self.add(first)

    def add(self, obs: Any) -> None:
        if self._is_dict:
            for key, arr in self._arrays.items():
                arr[self._n] = obs[key]
        else:
            self._arrays[""][self._n] = obs
        self._n += 1

    def result(self) -> Any:
        out = {k: v[: self._n] for k, v in self._arrays.items()}
        return out if self._is_dict else out[""]


def rollout_task(task: EpisodeTask) -> list:
    env = make_env(task.env_id, task.env_kwargs)
    try:
        return run_episodes(env, task, record=True)
    finally:
        env.close()
