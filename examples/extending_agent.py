"""Add an agent kind: register a factory under a name, then evaluate it by spec like any
built-in kind (``adiff evaluate ENV --agent "straight?gain=5"`` works once the kind is loaded).

    uv run python examples/extending_agent.py [EPISODES]

A plugin package registers its kinds the same way from a ``register_kinds()`` function named
in its ``pyproject.toml`` (see docs/extending.md):

    [project.entry-points."adiff_env.agents"]
    my-plugin = "my_plugin.kinds:register_kinds"
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np

from adiff_env.agents import agent_kinds, register_agent
from adiff_env.evaluation import evaluate

ENV_ID = "adiff/PointMaze-UMaze-v0"


class StraightLineAgent:
    """Drives straight at the goal, ``action = clip(gain * (goal - position))``, walls ignored.

    SB3's ``predict`` signature, so it also runs in ``evaluate_policy``. It keeps no memory,
    so ``state`` passes through unchanged."""

    def __init__(self, action_space: gym.spaces.Box, gain: float = 5.0) -> None:
        if gain < 0:
            raise ValueError(f"gain must be >= 0, got {gain}.")
        self.low, self.high, self.gain = action_space.low, action_space.high, float(gain)

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        error = np.asarray(observation["desired_goal"]) - np.asarray(observation["achieved_goal"])
        return np.clip(self.gain * error, self.low, self.high).astype(np.float32), state


def straight_factory(arg: str, env: gym.Env, gain: float | None = None) -> StraightLineAgent:
    """``straight[:GAIN]`` (default 5); the ``gain`` option (``straight?gain=2``) wins over GAIN.

    ``arg`` is the text after ``KIND:``; options arrive as keywords, and a keyword the factory
    does not take is refused with an error naming it before the agent is built."""
    return StraightLineAgent(env.action_space, gain=gain if gain is not None else float(arg or 5.0))


def main(episodes: int = 4) -> dict[str, float]:
    register_agent("straight", straight_factory, "straight at the goal, walls ignored (STRAIGHT[:GAIN])")
    print("agent kinds:", ", ".join(sorted(agent_kinds())))  # what ``adiff agents list`` shows
    scores = {}
    for spec in ("straight", "straight:2", "straight?gain=0"):  # KIND[:ARG][?key=value&k2=v2]
        result = evaluate(ENV_ID, spec, episodes=episodes, seed=0)
        scores[spec] = result.return_mean
        print(f"{spec:16s} on {ENV_ID}: return {result.return_mean:6.1f}, success {result.success_rate:.0%}")
    return scores


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
