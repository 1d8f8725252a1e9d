"""The scripted Fetch experts on the real simulation, their agent kind, and the evaluation
protocol's last-step success."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.evaluation import evaluate, run_episodes
from adiff_env.manipulation.expert import PickPlaceExpert, PushExpert, make_fetch_expert

TASKS = [("adiff/FetchPush-v0", {}), ("adiff/FetchPickAndPlace-v0", {"goal_region": "table"}),
         ("adiff/FetchPickAndPlace-v0", {"goal_region": "air"})]


@pytest.mark.parametrize(("env_id", "kwargs"), TASKS)
def test_expert_succeeds_at_the_last_step(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    try:
        expert = make_fetch_expert(env)
        assert isinstance(expert, PushExpert if "Push" in env_id else PickPlaceExpert)
        ever: list[bool] = []
        returns, successes, lengths = run_episodes(env, expert, 4, seed=100, ever=ever)
        assert successes == [True] * 4 and ever == [True] * 4 and lengths == [50] * 4
        assert all(-50 < r < 0 for r in returns)
    finally:
        env.close()


def test_noise_batching_and_bad_inputs():
    env = gym.make("adiff/FetchPickAndPlace-v0")
    try:
        obs, _ = env.reset(seed=0)
        clean, _ = make_fetch_expert(env).predict(obs)
        noisy, _ = make_fetch_expert(env, noise_std=0.5, seed=1).predict(obs)
        again, _ = make_fetch_expert(env, noise_std=0.5, seed=1).predict(obs)
        assert clean.shape == (4,) and clean.dtype == np.float32
        np.testing.assert_array_equal(noisy, again)  # seeded
        assert not np.array_equal(noisy, clean) and np.all(np.abs(noisy) <= 1.0)
        batch = {k: np.stack([v, v]) for k, v in obs.items()}
        actions, _ = make_fetch_expert(env).predict(batch)
        np.testing.assert_array_equal(actions, np.stack([clean, clean]))
        with pytest.raises(ValueError, match="noise_std"):
            make_fetch_expert(env, noise_std=-1.0)
        with pytest.raises(TypeError, match="observation dict"):
            make_fetch_expert(env).predict(obs["observation"])
    finally:
        env.close()
    maze = gym.make("adiff/PointMaze-UMaze-v0")
    try:
        with pytest.raises(TypeError, match="Fetch env"):
            make_fetch_expert(maze)
    finally:
        maze.close()


def test_expert_kind_dispatches_on_the_env():
    env = gym.make("adiff/FetchPush-v0")
    try:
        assert isinstance(make_agent("expert", env), PushExpert)
        assert make_agent("expert:0.2", env).noise_std == 0.2
    finally:
        env.close()
    result = evaluate("adiff/FetchPickAndPlace-v0", "expert", episodes=2, seed=7,
                      env_kwargs={"goal_region": "table"})
    assert result.success_rate == 1.0 and result.extra["ever_success_rate"] == 1.0
    assert result.normalized_score_mean is not None and result.episode_length_mean == 50


class _ReachThenLeave(gym.Wrapper):
    """Reports success at step 2 only: 'ever' but not 'at the last step'."""

    def reset(self, **kwargs):
        self._t = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        return obs, reward, terminated, truncated, {**info, "is_success": self._t == 2}


def test_success_counts_at_the_last_step_on_fetch():
    env = _ReachThenLeave(gym.make("adiff/FetchPush-v0", max_episode_steps=5))
    try:
        ever: list[bool] = []
        _, successes, _ = run_episodes(env, make_agent("random:0", env), 2, seed=0, ever=ever)
        assert successes == [False, False] and ever == [True, True]
    finally:
        env.close()


def test_vector_evaluation_counts_the_last_step_too():
    from adiff_env.bench.vector import evaluate_vector

    result = evaluate_vector("adiff/FetchPickAndPlace-v0", "expert", episodes=2, seed=7, n_envs=2, mode="sync",
                             env_kwargs={"goal_region": "table"})
    assert result.success_rate == 1.0 and result.episode_length_mean == 50 and result.extra["batched"]
