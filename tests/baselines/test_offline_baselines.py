"""Offline baselines (BC, IQL, CQL): hindsight relabelling, losses, tiny real training runs on a
real Minari dataset collected here, checkpoints loaded back as agents acting in a real maze."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.baselines.cql import CQLConfig, CQLLearner
from adiff_env.baselines.data import GOAL_RADIUS, load_goal_transitions
from adiff_env.baselines.iql import expectile_loss
from adiff_env.baselines.nets import TanhGaussianPolicy
from adiff_env.baselines.offline import make_config, train_offline
from adiff_env.cli.main import main
from adiff_env.errors import UnknownNameError
from adiff_env.evaluation import evaluate
from adiff_env.registry import CheckpointError, ModelRegistry

ENV = "adiff/PointMaze-UMaze-v0"
DATASET = "test/umaze-baselines-v0"
TINY = {"steps": 30, "batch_size": 32, "hidden": 32, "log_every": 10}


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """3,000 real expert steps on disk and a tiny BC, IQL and CQL trained on them."""
    from adiff_env.datasets.collect import collect_dataset

    root = tmp_path_factory.mktemp("offline")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        collect_dataset(ENV, 3000, seed=0, dataset_id=DATASET, episode_steps=1000, progress=False)
        data = load_goal_transitions(DATASET)
        registry = ModelRegistry(root / "home")
        ckpts = {algo: train_offline(algo, ENV, DATASET, make_config(algo, **TINY), registry=registry, data=data,
                                     run_dir=root / f"run-{algo}", progress=False).checkpoint
                 for algo in ("bc", "iql", "cql")}
        yield data, ckpts, root


def test_transitions_hold_every_step_with_episode_bounds(offline):
    data, _, _ = offline
    assert len(data) == 3000 and data.dims == {"obs_dim": 4, "goal_dim": 2, "action_dim": 2}
    assert set(np.unique(data.end)) == {1000, 2000, 3000}
    np.testing.assert_array_equal(data.next_obs[:999], data.obs[1:1000])  # consecutive within an episode
    np.testing.assert_allclose(data.achieved_next, data.next_obs[:, :2])


def test_relabelled_goals_are_future_achievements_and_rewards_follow_the_goal(offline):
    data, _, _ = offline
    rng = np.random.default_rng(0)
    batch = data.sample(512, rng, relabel_prob=1.0, max_goal_offset=50)
    x, nx = batch["x"].numpy(), batch["next_x"].numpy()
    goal = x[:, 4:]
    np.testing.assert_array_equal(goal, nx[:, 4:])
    reached = np.linalg.norm(nx[:, :2] - goal, axis=1) <= GOAL_RADIUS
    np.testing.assert_array_equal(batch["reward"].numpy(), reached.astype(np.float32))
    assert 0.05 < batch["reward"].mean() < 1.0  # offsets up to 50 steps: some reached, most not
    # every relabelled goal is an achieved position at most 50 steps ahead in the same episode
    for row in range(20):
        i = int(np.flatnonzero((data.obs == x[row, :4]).all(1))[0])
        ahead = data.achieved_next[i : min(i + 51, data.end[i])]
        assert np.isclose(ahead, goal[row], atol=1e-6).all(1).any()
    kept = data.sample(256, rng, relabel_prob=0.0)
    rows = [int(np.flatnonzero((data.obs == r[:4]).all(1))[0]) for r in kept["x"].numpy()[:20]]
    np.testing.assert_allclose(kept["x"].numpy()[:20, 4:], data.goal[rows])
    assert batch["done"].sum() == 0


def test_expectile_loss_is_asymmetric_mse():
    u = torch.tensor([-2.0, 1.0, 3.0])
    assert expectile_loss(u, 0.5).item() == pytest.approx(0.5 * u.square().mean().item())
    assert expectile_loss(torch.tensor([1.0]), 0.9).item() == pytest.approx(0.9)
    assert expectile_loss(torch.tensor([-1.0]), 0.9).item() == pytest.approx(0.1)


def test_tanh_gaussian_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    pi = TanhGaussianPolicy(3, 2, hidden=8, layers=1)
    x = torch.randn(5, 3)
    gen = torch.Generator().manual_seed(1)
    a, logp = pi.sample(x, gen)
    mu, log_std = pi._dist(x)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Independent(torch.distributions.Normal(mu, log_std.exp()), 1),
        [torch.distributions.TanhTransform()],
    )
    torch.testing.assert_close(logp, dist.log_prob(a.clamp(-0.999999, 0.999999)), atol=1e-3, rtol=1e-3)
    assert pi.act(x).abs().max() < 1


def test_cql_penalty_pushes_down_unseen_actions(offline):
    data, _, _ = offline
    cfg = CQLConfig(batch_size=64, hidden=32, cql_alpha=5.0)
    learner = CQLLearner(6, 2, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    batch = data.sample(64, rng)
    first = learner.conservative_penalty(batch["x"], batch["next_x"], batch["action"])
    assert first.shape == (2,) and torch.isfinite(first).all()
    for _ in range(60):
        learner.update(data.sample(64, rng))
    later = learner.conservative_penalty(batch["x"], batch["next_x"], batch["action"])
    assert (later < first).all()  # the gap between Q on sampled and on data actions shrinks


def test_bc_learns_the_data_actions(offline):
    data, _, _ = offline
    cfg = make_config("bc", steps=300, batch_size=128, hidden=64, relabel_prob=0.0)
    from adiff_env.baselines.bc import BCLearner

    learner = BCLearner(6, 2, cfg, torch.device("cpu"), torch.Generator())
    rng = np.random.default_rng(0)
    losses = [learner.update(data.sample(128, rng, 0.0))["loss/policy"] for _ in range(300)]
    assert np.mean(losses[-30:]) < 0.75 * np.mean(losses[:30])  # noisy expert data: the noise is irreducible


@pytest.mark.parametrize("algo", ["bc", "iql", "cql"])
def test_offline_agent_acts_in_a_real_maze(offline, algo):
    _, ckpts, root = offline
    ckpt = ckpts[algo]
    assert ckpt.metadata.kind == algo and ckpt.metadata.dataset == DATASET and ckpt.metadata.steps == 30
    assert (ckpt.path / "weights.safetensors").is_file() and ckpt.config["dims"]["action_dim"] == 2
    assert list((root / f"run-{algo}" / "tb").iterdir()), "no TensorBoard events"
    env = gym.make(ENV)
    agent = make_agent(f"{algo}:{ckpt.path}", env)
    obs, _ = env.reset(seed=0)
    action, state = agent.predict(obs)
    assert action.shape == (2,) and action.dtype == np.float32 and np.abs(action).max() <= 1 and state is None
    batch = {k: np.stack([v, v, v]) for k, v in obs.items()}
    actions, _ = agent.predict(batch)
    assert actions.shape == (3, 2)
    np.testing.assert_allclose(actions[0], action, atol=1e-6)
    stochastic = agent.predict(obs, deterministic=False)[0]
    assert stochastic.shape == (2,) and np.abs(stochastic).max() <= 1
    result = evaluate(ENV, f"{algo}:{ckpt.path}", episodes=1, seed=0)
    assert result.episode_length_mean == 300 and math.isfinite(result.return_mean)


def test_checkpoint_and_config_errors(offline):
    _, ckpts, _ = offline
    env = gym.make(ENV)
    with pytest.raises(CheckpointError, match="'bc' model, not a 'iql'"):
        make_agent(f"iql:{ckpts['bc'].path}", env)
    with pytest.raises(ValueError, match="needs a model"):
        make_agent("cql", env)
    with pytest.raises(ValueError, match="Unknown IQLConfig key 'expectle'. Did you mean 'expectile'"):
        make_config("iql", expectle=0.9)
    with pytest.raises(UnknownNameError, match="Known offline algorithms: bc, cql, iql"):
        make_config("td3bc")
    with pytest.raises(ValueError, match="expectile"):
        make_config("iql", expectile=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        make_config("bc", batch_size=0)
    with pytest.raises(TypeError, match="IQLConfig"):
        train_offline("iql", ENV, DATASET, make_config("bc"), progress=False)
    with pytest.raises(UnknownNameError, match="dataset id"):
        load_goal_transitions("test/nothing-v0")


def test_cli_trains_offline_baselines(offline, capsys, monkeypatch):
    _, _, root = offline
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    code = main(["baselines", "train", "iql", ENV, "--dataset", DATASET, "--steps", "5", "--name", "iql-cli",
                 "--set", "batch_size=16", "--set", "hidden=16", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "saved iql-cli@v1" in out and "--agent iql:iql-cli@v1" in out
    ckpt = ModelRegistry().load("iql-cli", kind="iql")
    assert ckpt.config["config"]["batch_size"] == 16 and ckpt.metadata.steps == 5
    assert main(["baselines", "train", "bc", ENV, "--steps", "5"]) == 2
    assert "give --dataset" in capsys.readouterr().err
    assert main(["baselines", "train", "cql", ENV, "--dataset", DATASET, "--steps", "5", "--set", "nope=1"]) == 2
    assert "Unknown CQLConfig key 'nope'" in capsys.readouterr().err
