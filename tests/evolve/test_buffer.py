"""TrajectoryBuffer: capacity, quality, diversity, prioritized sampling, persistence, Minari export."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.errors import UnknownNameError
from adiff_env.evolve.buffer import BufferConfig, TrajectoryBuffer, positions_of, trajectory_distance


def line(y: float, n: int = 10) -> np.ndarray:
    return np.stack([np.linspace(0, 1, n), np.full(n, y)], axis=1)


def test_capacity_holds_and_keeps_the_best():
    buf = TrajectoryBuffer(BufferConfig(capacity=5))
    for i in range(20):
        buf.add(line(float(i)), reward=float(i % 7))
    assert len(buf) == 5
    assert sorted(buf.rewards) == [5.0, 5.0, 5.0, 6.0, 6.0]  # the five best of 0..6, 0..6, 0..5
    assert buf.add(line(99.0), reward=0.0) == "rejected_full"


def test_quality_filter_threshold_and_top_quantile():
    buf = TrajectoryBuffer(BufferConfig(min_reward=0.5))
    assert buf.add(line(0), 0.4) == "rejected_quality"
    assert buf.add(line(1), 0.6) == "added"
    buf = TrajectoryBuffer(BufferConfig(top_quantile=0.75))
    out = buf.add_batch([line(float(i)) for i in range(8)], [float(i) for i in range(8)])
    assert sorted(buf.rewards) == [6.0, 7.0] and out == {"rejected_quality": 6, "added": 2}
    with pytest.raises(ValueError, match="top_quantile"):
        BufferConfig(top_quantile=1.5)
    with pytest.raises(UnknownNameError):
        BufferConfig(priority="greedy")


def test_diversity_rule_replaces_only_when_better():
    buf = TrajectoryBuffer(BufferConfig(min_distance=0.5))
    assert buf.add(line(0.0), 1.0) == "added"
    assert buf.add(line(0.1), 0.5) == "rejected_duplicate"  # 0.1 away, worse
    assert buf.add(line(0.2), 2.0) == "replaced"  # 0.2 away, better: replaces
    assert len(buf) == 1 and buf.rewards == [2.0] and positions_of(buf.items[0])[0, 1] == pytest.approx(0.2)
    assert buf.add(line(3.0), 0.1) == "added"  # far away
    assert len(buf) == 2


def test_distance_resamples_to_a_common_length():
    assert trajectory_distance(line(0, 10), line(0, 37)) == pytest.approx(0.0, abs=1e-12)
    assert trajectory_distance(line(0), line(2)) == pytest.approx(2.0)
    assert trajectory_distance({"obs/observation": np.c_[line(1), np.zeros((10, 2))]}, line(0)) == pytest.approx(1.0)


@pytest.mark.parametrize("priority", ["rank", "proportional"])
def test_sampling_frequencies_follow_priorities(priority):
    buf = TrajectoryBuffer(BufferConfig(priority=priority, alpha=1.0, seed=3))
    for i, r in enumerate([1.0, 2.0, 4.0, 8.0]):
        buf.add(line(float(i)), r)
    p = buf.probabilities()
    expected = np.array([1 / 4, 1 / 3, 1 / 2, 1.0]) if priority == "rank" else np.array([0, 1, 3, 7]) + 1e-6
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-6)
    n = 20_000
    counts = np.bincount(buf.sample(n), minlength=4)
    chi2 = float(((counts - n * p) ** 2 / np.maximum(n * p, 1e-9))[p > 1e-4].sum())
    assert chi2 < 16.3  # chi-square, 3 dof, p = 0.001
    uniform = TrajectoryBuffer(BufferConfig(alpha=0.0))
    uniform.add(line(0), 1.0)
    uniform.add(line(5), 9.0)
    np.testing.assert_allclose(uniform.probabilities(), [0.5, 0.5])


def test_stats_and_empty_sampling():
    buf = TrajectoryBuffer(BufferConfig(capacity=10))
    with pytest.raises(ValueError, match="empty"):
        buf.sample(1)
    assert buf.stats()["size"] == 0
    for i in range(5):
        buf.add(line(float(i)), float(i))
    s = buf.stats()
    assert s["size"] == 5 and s["reward_median"] == 2.0 and s["reward_max"] == 4.0 and s["diversity"] > 1.0


def test_save_load_round_trip_and_interrupted_save(tmp_path, monkeypatch):
    buf = TrajectoryBuffer(BufferConfig(capacity=4, seed=1))
    buf.add(line(0.0), 1.0)
    buf.add({"actions": np.ones((3, 2)), "obs/observation": np.zeros((4, 4))}, 2.0)
    buf.add("def f():\n    return 1\n", 3.0)
    buf.save(tmp_path / "b")
    back = TrajectoryBuffer.load(tmp_path / "b")
    assert back.rewards == buf.rewards and back.items[2] == buf.items[2]
    np.testing.assert_array_equal(back.items[0], buf.items[0])
    np.testing.assert_array_equal(back.items[1]["actions"], buf.items[1]["actions"])
    np.testing.assert_array_equal(back.sample(5), buf.sample(5))  # generator state restored

    buf.add(line(7.0), 4.0)
    import adiff_env.evolve.buffer as mod

    real = mod.os.replace

    def crash(src, dst):
        if str(dst).endswith("buffer.json"):
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(mod.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        buf.save(tmp_path / "b")
    monkeypatch.setattr(mod.os, "replace", real)
    again = TrajectoryBuffer.load(tmp_path / "b")  # the previous save, whole
    assert len(again) == 3 and json.loads((tmp_path / "b" / "buffer.json").read_text())["generation"] == 0
    buf.save(tmp_path / "b")
    assert len(TrajectoryBuffer.load(tmp_path / "b")) == 4
    assert [p.name for p in (tmp_path / "b").glob("items-*.npz")] == ["items-1.npz"]
    with pytest.raises(FileNotFoundError):
        TrajectoryBuffer.load(tmp_path / "none")


def test_minari_export_loads_and_trains_as_segments():
    import minari

    from adiff_env.datasets.segments import SegmentDataset
    from adiff_env.maze.filter import ConsistencyFilter

    env = gym.make("adiff/PointMaze-UMaze-v0")
    obs, _ = env.reset(seed=0)
    filt = ConsistencyFilter(env)
    buf = TrajectoryBuffer()
    for k in range(3):
        plan = np.tile(obs["observation"], (20, 1))  # standing still is feasible
        plan[:, 0] += np.linspace(0, 0.1 * k, 20)
        buf.add(filt.check(plan, obs["desired_goal"]).rollout, float(k))
    with pytest.raises(ValueError, match="rollout"):
        TrajectoryBuffer().to_minari("evolve/empty-v0", env)
    ds = buf.to_minari("evolve/test-buffer-v0", env)
    assert ds.total_episodes == 3 and ds.total_steps == 57
    loaded = minari.load_dataset("evolve/test-buffer-v0")
    ep = next(loaded.iterate_episodes())
    assert ep.observations["observation"].shape == (20, 4) and ep.actions.shape == (19, 2)
    from adiff_env.evolve.dynamics import transitions_from_minari

    s, a, s2 = transitions_from_minari(loaded)
    assert s.shape == (57, 4) and a.shape == (57, 2) and s2.shape == (57, 4)
    segs = SegmentDataset("evolve/test-buffer-v0", 8, goal_mode="hindsight", min_goal_index=2)
    assert len(segs) > 0 and segs[0].trajectories.shape == (8, 6)
    with pytest.raises(FileExistsError):
        buf.to_minari("evolve/test-buffer-v0", env, overwrite=False)


def test_features_are_computed_once_per_item_and_distances_compare_features(tmp_path):
    calls: list[float] = []

    def features(item):
        calls.append(float(item[0, 1]))
        return float(item[0, 1])

    def distance(a, b):
        assert isinstance(a, float) and isinstance(b, float)  # features, never raw items
        return abs(a - b)

    buf = TrajectoryBuffer(BufferConfig(capacity=3, min_distance=0.5, min_reward=0.0), distance, features=features)
    outcomes = [buf.add(line(y), r) for y, r in [(0.0, 1.0), (0.1, 2.0), (5.0, 1.0), (9.0, 3.0), (20.0, 4.0), (1.0, -1.0)]]
    assert outcomes == ["added", "replaced", "added", "added", "replaced", "rejected_quality"]
    assert sorted(calls) == [0.0, 0.1, 5.0, 9.0, 20.0]  # once per item that passed the quality rule
    assert sorted(buf._features) == [0.1, 9.0, 20.0] == sorted(float(i[0, 1]) for i in buf.items)
    rng = np.random.default_rng(0)  # stats' documented pair draw
    pairs = [rng.choice(3, 2, replace=False) for _ in range(200)]
    expected = np.mean([abs(buf._features[i] - buf._features[j]) for i, j in pairs])
    assert buf.stats()["diversity"] == pytest.approx(expected)
    assert len(calls) == 5  # stats reuse the cached features
    buf.save(tmp_path / "b")
    back = TrajectoryBuffer.load(tmp_path / "b", distance, features=features)
    assert back.stats()["diversity"] == pytest.approx(expected)
    back.stats()
    assert len(calls) == 8 and back._features == buf._features  # once per loaded item


def test_default_metric_matches_trajectory_distance_and_a_plain_item_distance_still_works():
    buf = TrajectoryBuffer(BufferConfig(capacity=5))
    a, b = line(0.0, 10), line(2.0, 37)
    buf.add(a, 1.0)
    buf.add(b, 2.0)
    assert buf.stats()["diversity"] == pytest.approx(trajectory_distance(a, b)) == pytest.approx(2.0)
    seen = []
    plain = TrajectoryBuffer(BufferConfig(min_distance=0.5), lambda x, y: seen.append((x, y)) or 0.0)
    plain.add("a", 1.0)
    assert plain.add("b", 0.5) == "rejected_duplicate" and seen == [("b", "a")]
