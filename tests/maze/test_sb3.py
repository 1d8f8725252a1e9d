"""A real SB3 client of the maze env: SAC + HER trains for 2,000 steps without error."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)


@pytest.fixture
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["adiff/PointMaze-UMaze-v0", "adiff/PointMaze-Medium-GoldCoin-v0"])
def test_sac_her_runs_2000_steps(env_id, one_torch_thread):
    from stable_baselines3 import SAC, HerReplayBuffer

    steps = 2000 if env_id.endswith("UMaze-v0") else 400
    env = gym.make(env_id, max_episode_steps=100)
    try:
        model = SAC(
            "MultiInputPolicy",
            env,
            replay_buffer_class=HerReplayBuffer,
            replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future", "copy_info_dict": True},
            learning_starts=200,
            batch_size=64,
            policy_kwargs={"net_arch": [64, 64]},
            seed=0,
            device="cpu",
        )
        model.learn(total_timesteps=steps)
        assert model.num_timesteps == steps
        assert model.replay_buffer.size() * model.replay_buffer.n_envs == steps
        obs, _ = env.reset(seed=0)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(action) and np.all(np.isfinite(action))
    finally:
        env.close()
