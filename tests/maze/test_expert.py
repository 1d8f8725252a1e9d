"""The waypoint experts driving the real MuJoCo PointMaze."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import agent_kinds, make_agent
from adiff_env.evaluation import run_episodes
from adiff_env.maze.expert import TunedWaypointExpert, WaypointExpert, make_expert


@pytest.fixture
def umaze():
    env = gym.make("adiff/PointMaze-UMaze-v0")
    yield env
    env.close()


def test_d4rl_expert_reaches_umaze_goal_in_95_percent(umaze):
    expert = make_expert(umaze)
    assert type(expert) is WaypointExpert
    assert (expert.p_gain, expert.d_gain, expert.switch_radius, expert.noise_std) == (10.0, -1.0, 0.1, 0.0)
    returns, successes, _ = run_episodes(umaze, expert, episodes=100, seed=0)
    assert np.mean(successes) >= 0.95
    assert np.mean(returns) > 150  # arrives and stays: most of the 300 steps rewarded


def test_waypoints_follow_the_bfs_path_then_the_exact_goal(umaze):
    expert = WaypointExpert(umaze.unwrapped.maze)
    obs, _ = umaze.reset(seed=0, options={"reset_cell": (3, 1)})
    expert.predict(obs, episode_start=True)
    assert expert.waypoint_cells == [(3, 2), (3, 3), (2, 3), (1, 3), (1, 2), (1, 1)]
    centres = [umaze.unwrapped.maze.cell_rowcol_to_xy(np.array(c)) for c in expert.waypoint_cells[:-1]]
    np.testing.assert_allclose(expert.waypoints[:-1], centres)
    np.testing.assert_array_equal(expert.waypoints[-1], obs["desired_goal"])


def test_actions_are_clipped_float32_and_noise_is_seeded(umaze):
    obs, _ = umaze.reset(seed=1)
    a1, state = WaypointExpert(umaze.unwrapped.maze, noise_std=0.5, seed=3).predict(obs)
    a2, _ = WaypointExpert(umaze.unwrapped.maze, noise_std=0.5, seed=3).predict(obs)
    a0, _ = WaypointExpert(umaze.unwrapped.maze).predict(obs)
    assert state is None and a1.dtype == np.float32 and umaze.action_space.contains(a1)
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a0, a1)


def test_replans_when_goal_changes_in_continuing_collection():
    env = gym.make("adiff/PointMaze-UMaze-v0", reset_target=True, max_episode_steps=3000)
    try:
        expert = make_expert(env, noise_std=0.3, seed=0)
        obs, _ = env.reset(seed=0)
        reached, goals = 0, set()
        for _ in range(3000):
            action, _ = expert.predict(obs)
            obs, _, _, truncated, info = env.step(action)
            reached += info["success"]
            goals.add(tuple(np.round(obs["desired_goal"], 3)))
            if truncated:
                break
        assert reached >= 15 and len(goals) >= 15  # a new goal each time one is reached
    finally:
        env.close()


def test_replans_after_an_unannounced_teleport(umaze):
    expert = make_expert(umaze)
    obs, _ = umaze.reset(seed=0, options={"reset_cell": (3, 1)})
    for _ in range(20):
        obs, *_ = umaze.step(expert.predict(obs)[0])
    umaze.unwrapped.point_env.set_state(np.array([1.0, 1.0]), np.zeros(2))  # cell (1, 3), no episode_start
    success = False
    for _ in range(200):
        obs, _, _, _, info = umaze.step(expert.predict(obs)[0])
        success = success or info["success"]
    assert success


def test_tuned_expert_is_faster_than_d4rl():
    env = gym.make("adiff/PointMaze-Medium-v0")
    try:
        d4rl, _, _ = run_episodes(env, make_expert(env), episodes=10, seed=0)
        tuned_agent = make_expert(env, tuned=True)
        tuned, successes, _ = run_episodes(env, tuned_agent, episodes=10, seed=0)
        assert isinstance(tuned_agent, TunedWaypointExpert) and all(successes)
        assert np.mean(tuned) > 1.05 * np.mean(d4rl)
    finally:
        env.close()


def test_batch_of_one_and_bad_inputs(umaze):
    expert = make_expert(umaze)
    obs, _ = umaze.reset(seed=0)
    batched = {k: v[None] for k, v in obs.items()}
    action, _ = expert.predict(batched, episode_start=np.array([True]))
    assert action.shape == (1, 2)
    with pytest.raises(ValueError, match="one env"):
        expert.predict({k: np.stack([v, v]) for k, v in obs.items()})
    with pytest.raises(TypeError, match="observation dict"):
        expert.predict(obs["observation"])
    with pytest.raises(TypeError, match="gymnasium_robotics Maze"):
        WaypointExpert(object())
    with pytest.raises(ValueError, match="switch_radius"):
        WaypointExpert(umaze.unwrapped.maze, switch_radius=0.0)
    with pytest.raises(TypeError, match="PointMaze env"):
        make_expert(gym.make("Pendulum-v1"))


def test_agent_kinds_expert_and_expert_tuned(umaze):
    kinds = agent_kinds()
    assert {"expert", "expert-tuned"} <= set(kinds)
    assert isinstance(make_agent("expert-tuned", umaze), TunedWaypointExpert)
    noisy = make_agent("expert:0.25", umaze)
    assert noisy.noise_std == 0.25
    with pytest.raises(ValueError, match="noise std"):
        make_agent("expert:loud", umaze)
