import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.wrappers import EpisodeScore, flat_size, flatten_goal


def test_episode_score_matches_env_scorer():
    env = EpisodeScore(gym.make("adiff/PointMaze-UMaze-v0", max_episode_steps=20))
    env.reset(seed=0)
    total, info, done = 0.0, {}, False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        total += reward
        done = terminated or truncated
    ep = info["episode"]
    assert ep["l"] == 20 and ep["r"] == pytest.approx(total)
    expected = env.unwrapped.get_normalized_score(total)
    assert ep["normalized_score"] == pytest.approx(expected)
    assert ep["normalized_score_x100"] == pytest.approx(100 * expected)
    env.reset(seed=1)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert "episode" not in info


def test_episode_score_without_references_has_only_return():
    env = EpisodeScore(gym.make("Pendulum-v1", max_episode_steps=3))
    env.reset(seed=0)
    for _ in range(3):
        *_, info = env.step(env.action_space.sample())
    assert set(info["episode"]) == {"r", "l"}


def test_flatten_goal_orders_keys():
    base = gym.make("adiff/PointMaze-UMaze-v0")
    env = flatten_goal(base)
    obs, _ = env.reset(seed=3)
    raw, _ = base.reset(seed=3)
    assert flat_size(env) == 6 and obs.shape == (6,)
    np.testing.assert_allclose(obs, np.concatenate([raw["observation"], raw["desired_goal"]]))
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="nope"):
        flatten_goal(base, keys=("observation", "nope"))
    with pytest.raises(TypeError, match="Dict"):
        flatten_goal(gym.make("Pendulum-v1"))
