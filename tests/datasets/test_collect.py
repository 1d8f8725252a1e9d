"""Collection into a real Minari folder (the conftest gives each test its own
MINARI_DATASETS_PATH), reloading with minari.load_dataset, atomic replacement."""

from __future__ import annotations

import os

import minari
import numpy as np
import pytest
from datasets_helpers import failing_factory, greedy_factory, interrupting_factory

from adiff_env.datasets.collect import collect_dataset, datasets_root, default_dataset_id
from adiff_env.errors import UnknownNameError

OPEN = "PointMaze_Open-v3"  # raw gymnasium-robotics maze: the greedy test agent reaches goals


def _collect(steps=2000, **kw):
    kw.setdefault("agent_factory", greedy_factory)
    kw.setdefault("episode_steps", 1000)
    kw.setdefault("dataset_id", "adiff/test-open-v0")
    return collect_dataset(OPEN, steps, progress=False, **kw)


def _arrays(dataset_id):
    ds = minari.load_dataset(dataset_id)
    eps = list(ds.iterate_episodes())
    return (np.concatenate([e.observations["observation"] for e in eps]),
            np.concatenate([e.actions for e in eps]))


def test_default_dataset_id():
    assert default_dataset_id("adiff/PointMaze-UMaze-v0") == "adiff/pointmaze-umaze-v0"
    assert default_dataset_id("adiff/PointMaze-Large-GoldCoin-v0") == "adiff/pointmaze-large-goldcoin-v0"
    assert default_dataset_id("PointMaze_UMaze-v3") == "adiff/pointmaze-umaze-v0"


def test_collect_writes_a_minari_dataset_with_metadata():
    result = _collect(2500, noise_std=0.3, seed=7)
    assert result.total_steps == 2500 and result.total_episodes == 3
    ds = minari.load_dataset("adiff/test-open-v0")
    assert ds.total_steps == 2500
    eps = list(ds.iterate_episodes())
    assert [len(e.actions) for e in eps] == [1000, 1000, 500]
    for e in eps:
        assert e.observations["observation"].shape == (len(e.actions) + 1, 4)
        assert e.actions.shape == (len(e.actions), 2)
        assert np.all(np.abs(e.actions) <= 1.0)  # noisy actions are clipped to the space
        assert e.truncations[-1] and not e.truncations[:-1].any() and not e.terminations.any()
    # continuing task: several goals reached (and replaced) within one episode
    desired = eps[0].observations["desired_goal"]
    assert np.any(desired[1:] != desired[:-1], axis=1).sum() >= 3
    meta = ds.storage.metadata
    recipe = meta["adiff_recipe"]
    assert (recipe["seed"], recipe["noise_std"], recipe["steps"], recipe["episode_steps"]) == (7, 0.3, 2500, 1000)
    assert recipe["env_kwargs"]["reset_target"] is True
    assert "noise std=0.3" in meta["algorithm_name"]
    assert meta["adiff_git_commit"]
    assert any(r.startswith("mujoco==") for r in meta["requirements"])
    env = ds.recover_environment()
    assert env.spec.max_episode_steps == 1000 and env.spec.kwargs["reset_target"] is True
    assert ds.recover_environment(eval_env=True).spec.max_episode_steps == 300
    # nothing but the dataset and its namespace in the data folder (no staging left)
    assert sorted(os.listdir(datasets_root())) == ["adiff"]


def test_same_data_for_any_worker_count_and_backend():
    _collect(2200, seed=3, dataset_id="adiff/w1-v0", workers=1)
    _collect(2200, seed=3, dataset_id="adiff/w2-v0", workers=2)
    _collect(2200, seed=3, dataset_id="adiff/dc-v0", backend="collector")
    _collect(2200, seed=4, dataset_id="adiff/s4-v0", workers=1)
    obs1, act1 = _arrays("adiff/w1-v0")
    for other in ("adiff/w2-v0", "adiff/dc-v0"):
        obs, act = _arrays(other)
        np.testing.assert_array_equal(obs, obs1)
        np.testing.assert_array_equal(act, act1)
    assert not np.array_equal(_arrays("adiff/s4-v0")[1], act1)


@pytest.mark.parametrize(
    ("factory", "workers", "exc"),
    [
        (failing_factory, 1, RuntimeError),
        (interrupting_factory, 1, KeyboardInterrupt),
        (failing_factory, 2, RuntimeError),
    ],
)
def test_failed_collection_keeps_the_old_dataset(factory, workers, exc):
    _collect(1500, seed=1)
    before_obs, before_act = _arrays("adiff/test-open-v0")
    with pytest.raises(exc):
        _collect(3000, seed=2, overwrite=True, agent_factory=factory, workers=workers)
    ds = minari.load_dataset("adiff/test-open-v0")
    assert ds.total_steps == 1500
    obs, act = _arrays("adiff/test-open-v0")
    np.testing.assert_array_equal(obs, before_obs)
    np.testing.assert_array_equal(act, before_act)
    leftovers = [p for p in os.listdir(datasets_root()) if p.startswith(".")]
    leftovers += [p for p in os.listdir(datasets_root() / "adiff") if p.startswith(".")]
    assert leftovers == []


def test_overwrite_replaces_and_refuses_without_flag():
    _collect(1000, seed=1)
    with pytest.raises(FileExistsError, match="overwrite"):
        _collect(1000, seed=1)
    _collect(1200, seed=2, overwrite=True)
    assert minari.load_dataset("adiff/test-open-v0").total_steps == 1200
    assert sorted(os.listdir(datasets_root() / "adiff")) == ["namespace_metadata.json", "test-open-v0"]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"env_id": "PointMaze_UMaz-v3"}, UnknownNameError, "Did you mean 'PointMaze_UMaze-v3'"),
        ({"steps": 0}, ValueError, "steps must be a positive integer"),
        ({"noise_std": -0.1}, ValueError, "noise_std"),
        ({"noise_std": float("nan")}, ValueError, "noise_std"),
        ({"episode_steps": 1}, ValueError, "episode_steps"),
        ({"workers": 0}, ValueError, "workers"),
        ({"backend": "fast"}, UnknownNameError, "buffers"),
        ({"backend": "collector", "workers": 2}, ValueError, "workers=1"),
        ({"dataset_id": "bad id with spaces-v0"}, ValueError, "Malformed dataset ID"),
        ({"dataset_id": "adiff/noversion"}, ValueError, "version"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = {"env_id": OPEN, "steps": 100, **kwargs}
    with pytest.raises(exc, match=match):
        collect_dataset(args.pop("env_id"), args.pop("steps"), progress=False, agent_factory=greedy_factory, **args)
    assert not os.path.exists(datasets_root() / "adiff")


def test_umaze_expert_5000_steps_reload_segments_round_trip():
    """The foundation issue's check, end to end with the real env and the real expert."""
    result = collect_dataset("adiff/PointMaze-UMaze-v0", 5000, noise_std=0.5, seed=0,
                             episode_steps=2500, progress=False)
    assert result.dataset_id == "adiff/pointmaze-umaze-v0"
    ds = minari.load_dataset(result.dataset_id)
    assert (ds.total_steps, ds.total_episodes) == (5000, 2)
    assert ds.spec.env_spec.id == "adiff/PointMaze-UMaze-v0"
    rewards = np.concatenate([e.rewards for e in ds.iterate_episodes()])
    assert rewards.sum() >= 20  # the noisy expert keeps reaching goals

    from adiff_env.datasets.segments import SegmentDataset

    seg = SegmentDataset(ds, 128)
    assert len(seg) == 2 * (2500 - 127)
    item = seg[100]
    assert item.trajectories.shape == (128, 6) and item.start.shape == (4,)
    raw, _ = seg.raw_window(100)
    np.testing.assert_allclose(seg.normalizer.unnormalize(item.trajectories.numpy()), raw, atol=1e-5)
    goals = SegmentDataset(ds, 128, goal_mode="events")
    assert len(goals) > 1000 and goals[0].trajectories.shape == (128, 6)


def test_swap_failure_restores_the_old_dataset(monkeypatch):
    _collect(1000, seed=1)
    before = _arrays("adiff/test-open-v0")[1]
    real_rename = os.rename

    def rename(src, dst):
        if ".adiff-staging-" in str(src):
            raise OSError("disk full (test)")
        return real_rename(src, dst)

    monkeypatch.setattr("adiff_env.datasets.collect.os.rename", rename)
    with pytest.raises(OSError, match="disk full"):
        _collect(1300, seed=2, overwrite=True)
    np.testing.assert_array_equal(_arrays("adiff/test-open-v0")[1], before)
    assert sorted(os.listdir(datasets_root() / "adiff")) == ["namespace_metadata.json", "test-open-v0"]


def test_array_observation_env():
    """Any registered env works with continuing=False and an agent factory (array observations)."""
    from datasets_helpers import random_factory

    from adiff_env.datasets.segments import SegmentDataset

    collect_dataset("Pendulum-v1", 450, dataset_id="adiff/pendulum-v0", episode_steps=200,
                    continuing=False, agent_factory=random_factory, progress=False)
    ds = minari.load_dataset("adiff/pendulum-v0")
    assert [len(e.actions) for e in ds.iterate_episodes()] == [200, 200, 50]
    seg = SegmentDataset(ds, 16, position_dims=0)
    assert (seg.action_dim, seg.observation_dim, len(seg)) == (1, 3, 2 * 185 + 35)
    with pytest.raises(ValueError, match="dict observations"):
        SegmentDataset(ds, 16, goal_mode="events")
