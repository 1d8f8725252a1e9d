"""Add an environment: a tiny Gymnasium GoalEnv, registered under a new id, checked with
Gymnasium's env checker and evaluated by the ``random`` agent through ``adiff_env.evaluation``.

    uv run python examples/extending_env.py [EPISODES]

The env is a point on a line segment that must reach a goal: observation / achieved_goal /
desired_goal as in every adiff maze, so SB3's HER and the planners' goal conditioning apply.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from adiff_env.evaluation import evaluate

ENV_ID = "example/Reach1D-v0"


class Reach1DEnv(gym.Env):
    """A point at ``x`` in [-1, 1] moves by ``0.1 * action``; reward 1 per step within 0.05 of
    the goal (the D4RL maze2d convention: the return counts the steps spent at the goal)."""

    metadata = {"render_modes": []}

    def __init__(self, radius: float = 0.05) -> None:
        self.radius = radius
        box = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64)
        self.observation_space = spaces.Dict({
            "observation": spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64),
            "achieved_goal": box, "desired_goal": box,
        })
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._x = np.zeros(1)
        self._goal = np.zeros(1)

    def compute_reward(self, achieved_goal, desired_goal, info):
        """Vectorised as HER needs: ``[..., 1]`` goals -> ``[...]`` rewards."""
        distance = np.linalg.norm(np.asarray(achieved_goal) - np.asarray(desired_goal), axis=-1)
        return (distance <= self.radius).astype(np.float64)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"observation": self._x.copy(), "achieved_goal": self._x.copy(), "desired_goal": self._goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)  # seeds self.np_random
        self._x = self.np_random.uniform(-1.0, 1.0, size=1)
        self._goal = self.np_random.uniform(-1.0, 1.0, size=1)
        return self._obs(), {}

    def step(self, action):
        self._x = np.clip(self._x + 0.1 * np.clip(action, -1.0, 1.0), -1.0, 1.0).astype(np.float64)
        reward = float(self.compute_reward(self._x, self._goal, {}))
        return self._obs(), reward, False, False, {"success": reward > 0}


def main(episodes: int = 5) -> float:
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=Reach1DEnv, max_episode_steps=50)
    env = gym.make(ENV_ID)
    check_env(env.unwrapped, skip_render_check=True)  # raises on any API violation
    env.close()
    result = evaluate(ENV_ID, "random:0", episodes=episodes, seed=0)  # random:SEED seeds the agent too
    print(f"{ENV_ID}: random agent, {result.episodes} episodes, return {result.return_mean:.1f} "
          f"± {result.return_std:.1f}, success {result.success_rate:.0%}")
    return result.return_mean


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
