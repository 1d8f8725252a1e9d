"""The action-chunk diffusion policy on Fetch data: training pairs, a tiny run end to end through
the CLI (temp ADIFF_HOME and MINARI_DATASETS_PATH from the conftest), the agent's receding horizon."""

from __future__ import annotations

import json

import gymnasium as gym
import minari
import numpy as np
import pytest
import torch

from adiff_env.cli.main import main
from adiff_env.datasets.collect import collect_dataset
from adiff_env.planners.chunk_policy import ChunkConfig, ChunkState
from adiff_env.planners.chunk_train import ChunkPairs


@pytest.fixture
def tiny_push():
    collect_dataset("adiff/FetchPush-v0", 100, noise_std=0.0, dataset_id="adiff/tiny-push-v0", episode_steps=50,
                    continuing=False, episodes_per_task=2, progress=False)
    return "adiff/tiny-push-v0"


def test_pairs_pad_the_history_and_the_chunk(tiny_push):
    chunk = ChunkConfig(obs_horizon=2, action_horizon=4, pred_horizon=8)
    pairs = ChunkPairs(tiny_push, chunk)
    assert len(pairs) == 100 and pairs.feats.shape == (102, 28) and pairs.actions.shape == (100, 4)
    # episode 0 step 0: history [o_0, o_0]; step 49: chunk a_49 repeated; episode 1 starts at obs row 51
    assert pairs.obs_index[0].tolist() == [0, 0] and pairs.obs_index[1].tolist() == [0, 1]
    assert pairs.act_index[49].tolist() == [49] * 8 and pairs.act_index[45].tolist() == [45, 46, 47, 48, 49, 49, 49, 49]
    assert pairs.obs_index[50].tolist() == [51, 51] and pairs.act_index[50, 0] == 50
    chunks, cond = pairs.batch(torch.tensor([0, 50]))
    assert chunks.shape == (2, 8, 4) and cond.shape == (2, 56)
    assert float(pairs.feats.min()) >= -1.0 and float(pairs.feats.max()) <= 1.0
    ds = minari.load_dataset(tiny_push)
    first = next(iter(ds.iterate_episodes()))
    expected = pairs.action_normalizer.normalize(np.asarray(first.actions[:8], dtype=np.float64))
    np.testing.assert_allclose(chunks[0].numpy(), expected, atol=1e-6)


@pytest.mark.slow
def test_tiny_chunk_policy_end_to_end_through_the_cli(tiny_push, capsys):
    rc = main(["--threads", "1", "chunk", "train", "--dataset", tiny_push, "--name", "tiny-chunk", "--steps", "20",
               "--set", "batch_size=16", "--set", "dim=8", "--set", "chunk.sampler_steps=2",
               "--set", "chunk.action_horizon=4", "--json", "--quiet"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checkpoint"] == "tiny-chunk@v1" and out["steps"] == 20 and np.isfinite(out["final_loss"])
    rc = main(["--threads", "1", "evaluate", "adiff/FetchPush-v0", "--agent", "chunk:tiny-chunk", "--episodes", "1",
               "--seed", "500", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 1 and result["episode_length_mean"] == 50
    assert result["sampler"] == "ddim-2" and "ever_success_rate" in result

    from adiff_env.agents import make_agent

    env = gym.make("adiff/FetchPush-v0")
    try:
        agent = make_agent("chunk:tiny-chunk", env)
        obs, _ = env.reset(seed=1)
        state = None
        for step in range(5):  # one chunk of 4 actions, then a new plan
            action, state = agent.predict(obs, state=state, episode_start=step == 0)
            assert isinstance(state, ChunkState) and action.shape == (4,) and np.all(np.abs(action) <= 1)
            assert len(state.queue) == (3 - step) % 4
            obs, *_ = env.step(action)
        assert len(agent._plan_ms) == 2
        with pytest.raises(ValueError, match="unknown chunk-policy option"):
            make_agent("chunk:tiny-chunk", env, {"bogus": 1})
    finally:
        env.close()


@pytest.mark.slow
def test_offline_baselines_accept_fetch_data(tiny_push, capsys):
    from adiff_env.baselines.data import load_goal_transitions

    data = load_goal_transitions(tiny_push)
    assert data.dims == {"obs_dim": 25, "goal_dim": 3, "action_dim": 4}
    batch = data.sample(64, np.random.default_rng(0), relabel_prob=1.0, max_goal_offset=0, goal_radius=0.05)
    assert float(batch["reward"].mean()) > 0.9  # the next achieved goal is always within 0.05 of itself
    for algo in ("bc", "iql"):
        rc = main(["--threads", "1", "baselines", "train", algo, "adiff/FetchPush-v0", "--dataset", tiny_push,
                   "--steps", "5", "--name", f"{algo}-tiny-push", "--set", "goal_radius=0.05",
                   "--set", "batch_size=16", "--quiet"])
        assert rc == 0
        capsys.readouterr()
        rc = main(["--threads", "1", "evaluate", "adiff/FetchPush-v0", "--agent", f"{algo}:{algo}-tiny-push",
                   "--episodes", "1", "--json"])
        assert rc == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["episode_length_mean"] == 50 and "ever_success_rate" in result


def test_episode_features_match_the_agent_features(tiny_push):
    from adiff_env.planners.chunk_policy import observation_features
    from adiff_env.planners.chunk_train import _episode_features

    ep = next(iter(minari.load_dataset(tiny_push).iterate_episodes()))
    keys = ("observation", "desired_goal", "desired_goal-achieved_goal")
    rows = np.stack([observation_features({k: v[i] for k, v in ep.observations.items()}, keys) for i in range(51)])
    np.testing.assert_array_equal(_episode_features(ep.observations, keys, 51), rows)
    assert rows.shape == (51, 31)
    obs = ep.observations
    np.testing.assert_allclose(rows[:, 28:], np.asarray(obs["desired_goal"]) - np.asarray(obs["achieved_goal"]))
    with pytest.raises(KeyError, match="desired_goal-bogus"):
        observation_features({k: v[0] for k, v in obs.items()}, ("desired_goal-bogus",))


@pytest.mark.slow
@pytest.mark.parametrize("env_id,name", [("adiff/FetchPush-v0", "fetch-push-chunk"),
                                         ("adiff/FetchPickAndPlace-v0", "fetch-pick-place-chunk")])
def test_the_shipped_chunk_agents_resolve_and_solve_a_reset_seed(env_id, name):
    """``chunk:NAME`` comes from planners/pretrained/ (the temp ADIFF_HOME is empty) and puts the
    block on the goal on reset seed 50000 (one of the reported seeds)."""
    from adiff_env.agents import make_agent
    from adiff_env.evaluation import run_episodes

    env = gym.make(env_id)
    try:
        agent = make_agent(f"chunk:{name}", env)
        assert agent.config.obs_keys[-1] == "desired_goal-achieved_goal" and agent.config.action_horizon == 4
        _, successes, _ = run_episodes(env, agent, 1, 50000)
        assert [bool(s) for s in successes] == [True]
    finally:
        env.close()
