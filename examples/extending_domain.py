"""Add a domain: its env ids, an expert agent kind and the ``PlanningTask`` that lets the
generic trajectory planner act in it, with no edit to the planner, the engine or the loop.

    uv run python examples/extending_domain.py [EPISODES]

In the repository a domain is one folder beside ``adiff_env/maze/`` (see docs/extending.md):
``__init__.py`` registers the ids by entry-point *string* (no torch import), ``kinds.py`` has
``register_kinds()`` (named in pyproject's ``adiff_env.agents`` group), ``task.py`` the
planning task. This script puts the same pieces in one file: a free 2-D point mass (state
``[x, y, vx, vy]``, goal ``(x, y)``), its expert, its task, and an untrained planner that acts
through the task, as a trained one would.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from adiff_env.agents import register_agent
from adiff_env.evaluation import evaluate

ENV_ID = "example/PointMass-v0"


@dataclass(frozen=True)
class PointMassTask:
    """The domain's :class:`adiff_env.planners.task.PlanningTask` (a protocol: no import needed).

    Goal = state dims (0, 1); the plan rests there (velocities and actions zero); the PD rule
    tracks position (0, 1) with velocity (2, 3); the route is a straight line, so its length
    sets the deadline and there are no subgoals; no state is infeasible."""

    goal_dims: tuple[int, ...] = (0, 1)
    rest_dims: tuple[int, ...] = (2, 3)
    rest_actions: bool = True
    position_dims: tuple[int, ...] = (0, 1)
    velocity_dims: tuple[int, ...] = (2, 3)
    goal_tolerance: float = 0.1

    def path_length(self, state: np.ndarray, goal: np.ndarray) -> float | None:
        return float(np.linalg.norm(goal - state[:2]))

    def subgoal(self, state: np.ndarray, goal: np.ndarray, k: int) -> np.ndarray:
        return goal

    def violations(self, states: np.ndarray) -> np.ndarray | None:
        return None


class PointMassEnv(gym.Env):
    """A point mass in the open square [-1, 1]^2: ``v <- 0.9 v + 0.02 a`` (so ``|v| <= 0.2``),
    ``p <- p + v``; reward 1 per step within 0.1 of the goal."""

    def __init__(self) -> None:
        box2 = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float64)
        self.observation_space = spaces.Dict({
            "observation": spaces.Box(np.array([-1, -1, -0.2, -0.2]), np.array([1, 1, 0.2, 0.2]), dtype=np.float64),
            "achieved_goal": box2, "desired_goal": box2,
        })
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._s, self._goal = np.zeros(4), np.zeros(2)

    def planning_task(self) -> PointMassTask:  # what the trajectory planner asks the env for
        return PointMassTask()

    def compute_reward(self, achieved_goal, desired_goal, info):
        return (np.linalg.norm(np.asarray(achieved_goal) - desired_goal, axis=-1) <= 0.1).astype(np.float64)

    def _obs(self):
        return {"observation": self._s.copy(), "achieved_goal": self._s[:2].copy(), "desired_goal": self._goal.copy()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._s = np.concatenate([self.np_random.uniform(-0.9, 0.9, 2), np.zeros(2)])
        self._goal = self.np_random.uniform(-0.9, 0.9, 2)
        return self._obs(), {}

    def step(self, action):
        v = 0.9 * self._s[2:] + 0.02 * np.clip(action, -1.0, 1.0)
        self._s = np.concatenate([np.clip(self._s[:2] + v, -1.0, 1.0), v])
        reward = float(self.compute_reward(self._s[:2], self._goal, {}))
        return self._obs(), reward, False, False, {"success": reward > 0}


class PointMassExpert:
    """PD towards the goal: ``a = kp (g - p) - kd v`` (the domain's data collector)."""

    def __init__(self, action_space, kp: float = 5.0, kd: float = 20.0) -> None:
        self.action_space, self.kp, self.kd = action_space, kp, kd

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        s, g = np.asarray(observation["observation"]), np.asarray(observation["desired_goal"])
        a = self.kp * (g - s[:2]) - self.kd * s[2:]
        return np.clip(a, self.action_space.low, self.action_space.high).astype(np.float32), state


def is_point_mass(env: gym.Env) -> bool:
    return isinstance(getattr(env, "unwrapped", env), PointMassEnv)


def register() -> None:
    """What the domain's ``__init__.py`` and ``kinds.register_kinds()`` do. ``applies_to``
    lets the domain serve the shared kind name ``expert`` for its own envs, next to the maze's
    and Fetch's experts."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=PointMassEnv, max_episode_steps=100)
    register_agent("expert", lambda arg, env: PointMassExpert(env.action_space),
                   "PD expert for example/PointMass-v0", applies_to=is_point_mass)


def untrained_planner(env: gym.Env):
    """The generic planner on this domain's task (random weights: it shows the wiring only)."""
    from adiff_env.datasets.normalizers import MinMaxNormalizer
    from adiff_env.diffusion import TemporalUNet, UNetConfig
    from adiff_env.planners.preset import ActConfig
    from adiff_env.planners.trajectory import TrajectoryPlanner

    horizon, action_dim, obs_dim = 16, 2, 4
    model = TemporalUNet(UNetConfig(transition_dim=action_dim + obs_dim, horizon=horizon, dim=8, dim_mults=(1, 2)))
    bounds = np.array([1.0, 1.0, 1.0, 1.0, 0.2, 0.2])
    return TrajectoryPlanner(model, {"name": "cosine", "num_steps": 10}, "x0", MinMaxNormalizer(-bounds, bounds),
                             horizon, action_dim, obs_dim, ActConfig(sampler_steps=2, kp=5.0, kd=20.0),
                             task=env.unwrapped.planning_task())


def main(episodes: int = 3) -> dict[str, float]:
    register()
    env = gym.make(ENV_ID)
    check_env(env.unwrapped, skip_render_check=True)
    result = evaluate(ENV_ID, "expert", episodes=episodes, seed=0)
    print(f"expert on {ENV_ID}: return {result.return_mean:.1f}, success {result.success_rate:.0%}")
    planner = untrained_planner(env)
    obs, _ = env.reset(seed=0)
    for t in range(20):
        action, _ = planner.predict(obs, episode_start=t == 0)
        obs, *_ = env.step(action)
    env.close()
    print(f"untrained planner: {planner.plans_made} plans through {type(planner.task).__name__}, "
          f"deadline at env step {planner.state.deadline_t}")
    return {"expert_success": result.success_rate, "plans": planner.plans_made}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
