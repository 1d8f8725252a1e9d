"""Segment windows over a real Minari dataset collected in a real MuJoCo maze."""

from __future__ import annotations

import minari
import numpy as np
import pytest
import torch
from datasets_helpers import greedy_factory

from adiff_env.datasets.collect import collect_dataset
from adiff_env.datasets.normalizers import GaussianNormalizer, load_normalizer, save_normalizer
from adiff_env.datasets.segments import SegmentDataset
from adiff_env.errors import UnknownNameError

H = 32


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("minari_segments")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        collect_dataset("PointMaze_Open-v3", 5000, dataset_id="adiff/seg-v0", episode_steps=2000,
                        agent_factory=greedy_factory, progress=False)
    return minari.MinariDataset(root / "adiff" / "seg-v0" / "data")


@pytest.fixture(scope="module")
def episodes(dataset):
    return list(dataset.iterate_episodes())


def test_plain_windows_shapes_and_content(dataset, episodes):
    seg = SegmentDataset(dataset, H)
    assert (seg.action_dim, seg.observation_dim, seg.transition_dim) == (2, 4, 6)
    assert len(seg) == sum(len(e.actions) - H + 1 for e in episodes) == 5000 - 3 * (H - 1)
    item = seg[0]
    assert item.trajectories.shape == (H, 6) and item.trajectories.dtype == torch.float32
    assert item.start.shape == (4,) and item.goal.shape == (4,)
    assert int(item.goal_index) == H - 1
    torch.testing.assert_close(item.start, item.trajectories[0, 2:])
    torch.testing.assert_close(item.goal, item.trajectories[H - 1, 2:])
    # a window of the second episode equals the episode's data (actions first, then state)
    i = int(np.flatnonzero(seg.indices[:, 0] == 1)[5])
    ep, start, _ = seg.indices[i]
    e = episodes[ep]
    expected = np.concatenate([e.actions[start:start + H], e.observations["observation"][start:start + H]], axis=1)
    raw, _ = seg.raw_window(i)
    np.testing.assert_allclose(raw, expected, rtol=1e-6)
    back = seg.normalizer.unnormalize(seg[i].trajectories.numpy())
    np.testing.assert_allclose(back, expected, rtol=1e-5, atol=1e-5)
    assert seg.normalizer.normalize(raw).min() >= -1 - 1e-6 and seg.normalizer.normalize(raw).max() <= 1 + 1e-6


def test_indices_not_copies(dataset):
    seg = SegmentDataset(dataset, H)
    assert seg.indices.dtype == np.int32 and seg.indices.shape == (len(seg), 3)
    assert not seg.indices.flags.writeable
    # data stored once: 5000 rows x 6 float32, plus 12 bytes per window
    assert seg.nbytes < 5000 * 6 * 4 + len(seg) * 12 + 1024
    assert seg.raw_window(0)[0].base is not None  # plain windows are views


def test_dataloader_batches(dataset):
    seg = SegmentDataset(dataset, H, normalizer="gaussian", stride=4)
    assert len(seg) == sum((n - H) // 4 + 1 for n in (2000, 2000, 1000))
    batch = next(iter(torch.utils.data.DataLoader(seg, batch_size=8, shuffle=True,
                                                  generator=torch.Generator().manual_seed(0))))
    assert batch.trajectories.shape == (8, H, 6) and batch.start.shape == (8, 4)
    assert batch.goal_index.shape == (8,) and batch.goal_index.dtype == torch.int64
    actions, observations = seg.split(batch.trajectories)
    assert actions.shape == (8, H, 2) and observations.shape == (8, H, 4)


def test_events_windows_reach_a_goal_and_rest(dataset, episodes):
    seg = SegmentDataset(dataset, H, goal_mode="events", normalizer=None)
    assert len(seg) > 100
    for i in np.linspace(0, len(seg) - 1, 40).astype(int):
        ep, start, j = (int(v) for v in seg.indices[i])
        e = episodes[ep]
        desired = e.observations["desired_goal"]
        k = start + j
        assert 1 <= j <= H - 1
        assert np.any(desired[k + 1] != desired[k])  # the goal was reached at step k
        assert not np.any(np.any(desired[start + 1:k + 1] != desired[start:k], axis=1)[1:])  # first such step
        raw, jj = seg.raw_window(i)
        assert jj == j
        np.testing.assert_allclose(raw[:j, 2:], e.observations["observation"][start:k], rtol=1e-6)
        np.testing.assert_array_equal(raw[j:, :2], 0.0)  # zero actions while resting
        np.testing.assert_array_equal(raw[j:, 4:], 0.0)  # zero velocity
        resting = np.broadcast_to(e.observations["achieved_goal"][k], (H - j, 2))
        np.testing.assert_allclose(raw[j:, 2:4], resting, rtol=1e-6)
        assert np.linalg.norm(raw[j, 2:4] - desired[k]) <= 0.45 + 1e-6
        item = seg[int(i)]
        torch.testing.assert_close(item.goal, torch.from_numpy(raw[j, 2:]))
    goal_pad = SegmentDataset(dataset, H, goal_mode="events", pad_position="goal", normalizer=None)
    raw, j = goal_pad.raw_window(0)
    ep, start, _ = goal_pad.indices[0]
    goal = episodes[ep].observations["desired_goal"][start + j]
    np.testing.assert_allclose(raw[j:, 2:4], np.broadcast_to(goal, (H - j, 2)))


def test_hindsight_windows_are_seeded(dataset):
    a = SegmentDataset(dataset, H, goal_mode="hindsight", min_goal_index=4, seed=1)
    b = SegmentDataset(dataset, H, goal_mode="hindsight", min_goal_index=4, seed=1)
    c = SegmentDataset(dataset, H, goal_mode="hindsight", min_goal_index=4, seed=2)
    js = a.indices[:, 2]
    assert js.min() >= 4 and js.max() <= H - 1 and len(np.unique(js)) > H // 2
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices, c.indices)
    raw, j = a.raw_window(10)
    np.testing.assert_array_equal(raw[j:, 4:], 0.0)


def test_by_id_with_saved_normalizer(tmp_path):
    collect_dataset("PointMaze_Open-v3", 600, dataset_id="adiff/seg2-v0", episode_steps=300,
                    agent_factory=greedy_factory, progress=False)
    seg = SegmentDataset("adiff/seg2-v0", 16, normalizer="gaussian")
    assert seg.dataset_id == "adiff/seg2-v0" and "horizon=16" in repr(seg)
    path = save_normalizer(seg.normalizer, tmp_path / "norm.json")
    again = SegmentDataset("adiff/seg2-v0", 16, normalizer=load_normalizer(path))
    assert isinstance(again.normalizer, GaussianNormalizer)
    torch.testing.assert_close(again[3].trajectories, seg[3].trajectories)


def test_bad_arguments(dataset):
    with pytest.raises(ValueError, match="horizon must be an integer >= 2"):
        SegmentDataset(dataset, 1)
    with pytest.raises(ValueError, match="No window fits"):
        SegmentDataset(dataset, 5000)
    with pytest.raises(UnknownNameError, match="hindsight"):
        SegmentDataset(dataset, H, goal_mode="hindsght")
    with pytest.raises(UnknownNameError):
        SegmentDataset(dataset, H, pad_position="center")
    with pytest.raises(ValueError, match="min_goal_index"):
        SegmentDataset(dataset, H, goal_mode="events", min_goal_index=H)
    with pytest.raises(ValueError, match="position_dims"):
        SegmentDataset(dataset, H, position_dims=5)
    with pytest.raises(ValueError, match="Observation key 'obs'"):
        SegmentDataset(dataset, H, obs_key="obs")
    with pytest.raises(ValueError, match="fitted on 3 dimensions"):
        SegmentDataset(dataset, H, normalizer=GaussianNormalizer(np.zeros(3), np.ones(3)))
    with pytest.raises(TypeError, match="MinariDataset"):
        SegmentDataset(42, H)
    with pytest.raises(UnknownNameError, match="dataset id"):
        SegmentDataset("adiff/nope-v0", H)
    with pytest.raises(IndexError):
        SegmentDataset(dataset, H).raw_window(10**6)


def test_hindsight_goal_above_draws_goals_only_at_allowed_steps(dataset):
    plain = SegmentDataset(dataset, H, goal_mode="hindsight", min_goal_index=4, seed=1)
    a = plain.action_dim
    value = float(np.median(plain._data[:, a]))  # state dim 0 (x) above its median: about half the steps
    seg = SegmentDataset(dataset, H, goal_mode="hindsight", min_goal_index=4, seed=1, goal_above=(0, value))
    assert 0 < len(seg) <= len(plain) and seg.goal_above == (0, value)
    js = seg.indices[:, 2]
    assert js.min() >= 4 and js.max() <= H - 1
    below_starts = 0
    for i in range(0, len(seg), 97):
        raw, j = seg.raw_window(i)
        assert raw[j, a] > value  # the goal step is an allowed one
        below_starts += raw[0, a] <= value
    assert below_starts > 0  # windows may still start at steps that are not allowed
    # every start whose range holds an allowed step keeps a window; none other does
    ep, offset = 0, int(seg._offsets[0])
    length = int(seg._lengths[0])
    ok = seg._data[offset: offset + length, a] > value
    starts = set(seg.indices[seg.indices[:, 0] == ep, 1].tolist())
    expect = {s for s in range(length - 4) if ok[s + 4: s + min(H - 1, length - 1 - s) + 1].any()}
    assert starts == expect
    again = SegmentDataset(dataset, H, goal_mode="hindsight", min_goal_index=4, seed=1, goal_above=(0, value))
    np.testing.assert_array_equal(seg.indices, again.indices)
    with pytest.raises(ValueError, match="goal_above needs goal_mode='hindsight'"):
        SegmentDataset(dataset, H, goal_above=(0, value))
    with pytest.raises(ValueError, match="goal_above dim"):
        SegmentDataset(dataset, H, goal_mode="hindsight", goal_above=(99, value))
