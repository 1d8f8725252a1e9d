"""Test-only agents for the collection hook (``agent_factory``): not experts, just real
clients of the env so collection can be tested independently of the expert controller."""

from __future__ import annotations

import numpy as np


class GreedyAgent:
    """PD straight at the goal (no path planning; good enough in an open maze) + noise."""

    def __init__(self, noise_std: float, seed: int, fail_after: int | None = None, exc=RuntimeError) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise_std = noise_std
        self.fail_after, self.exc, self.calls = fail_after, exc, 0

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise self.exc("agent failed on purpose (test)")
        d = obs["desired_goal"] - obs["achieved_goal"]
        action = 10.0 * d - 1.0 * obs["observation"][2:] + self.rng.normal(0.0, self.noise_std, 2)
        return action, state


def greedy_factory(env, noise_std, seed, tuned):
    return GreedyAgent(noise_std, seed)


def failing_factory(env, noise_std, seed, tuned):
    """Fails midway through the first episode."""
    return GreedyAgent(noise_std, seed, fail_after=700)


def interrupting_factory(env, noise_std, seed, tuned):
    return GreedyAgent(noise_std, seed, fail_after=700, exc=KeyboardInterrupt)


class RandomAgent:
    def __init__(self, env, seed):
        self.space = env.action_space
        self.space.seed(seed)

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return self.space.sample(), state


def random_factory(env, noise_std, seed, tuned):
    return RandomAgent(env, seed)
