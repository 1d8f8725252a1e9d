"""Training on clean episodes only: the noise label filter, in SegmentDataset and ChunkPairs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import minari
import numpy as np
import pytest

from adiff_env.datasets.collect import collect_dataset
from adiff_env.datasets.filters import check_max_noise_std, episode_noise_std, keep_episode
from adiff_env.datasets.segments import SegmentDataset
from adiff_env.planners.chunk_policy import ChunkConfig
from adiff_env.planners.chunk_train import ChunkPairs, ChunkTrainConfig


def _ep(noise):
    return SimpleNamespace(infos={} if noise is None else {"noise_std": np.full(5, noise)})


def test_keep_episode_reads_the_label():
    assert episode_noise_std(_ep(0.2)) == pytest.approx(0.2) and episode_noise_std(_ep(None)) is None
    assert keep_episode(_ep(0.0), 0.0) and not keep_episode(_ep(0.2), 0.0) and keep_episode(_ep(0.2), 0.2)
    assert keep_episode(_ep(0.2), None) and keep_episode(_ep(None), None)
    with pytest.raises(ValueError, match="noise_std"):
        keep_episode(_ep(None), 0.0)  # a limit on unlabelled data would silently keep noise
    for bad in (-0.1, float("nan"), "0", True):
        with pytest.raises(ValueError, match="max_noise_std"):
            check_max_noise_std(bad)
    with pytest.raises(ValueError, match="max_noise_std"):
        ChunkTrainConfig(dataset="d", name="n", max_noise_std=-1.0)
    with pytest.raises(ValueError, match="normalizer"):
        ChunkTrainConfig(dataset="d", name="n", obs_normalizer="robust")


@pytest.fixture
def mixed_push():
    collect_dataset("adiff/FetchPush-v0", 200, noise_std=0.3, seed=4, dataset_id="adiff/mixed-push-v0",
                    episode_steps=20, continuing=False, episodes_per_task=10, progress=False, noisy_fraction=0.5)
    return "adiff/mixed-push-v0"


def test_training_data_keeps_only_clean_episodes(mixed_push):
    labels = [episode_noise_std(ep) for ep in minari.load_dataset(mixed_push).iterate_episodes()]
    clean = sum(v == 0.0 for v in labels)
    assert len(labels) == 10 and 0 < clean < 10, labels  # the fixture must mix both kinds
    every = SegmentDataset(mixed_push, 8)
    only_clean = SegmentDataset(mixed_push, 8, max_noise_std=0.0)
    assert every.num_episodes == 10 and only_clean.num_episodes == clean
    pairs = ChunkPairs(mixed_push, ChunkConfig(pred_horizon=8, action_horizon=4), max_noise_std=0.0,
                       obs_normalizer="gaussian")
    assert pairs.episodes == clean and len(pairs) == 20 * clean
    assert pairs.obs_normalizer.kind == "gaussian"
    # the kept actions are the clean episodes' actions, in order
    kept = np.concatenate([np.asarray(ep.actions) for ep in minari.load_dataset(mixed_push).iterate_episodes()
                           if episode_noise_std(ep) == 0.0])
    np.testing.assert_allclose(pairs.action_normalizer.unnormalize(pairs.actions.numpy().astype(np.float64)), kept,
                               atol=1e-5)


def test_planner_presets_take_the_filter(tmp_path):
    from adiff_env.planners.preset import load_preset

    text = (Path(__file__).resolve().parents[2] / "planners" / "fetch-push.toml").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("max_noise_std")) + "\n"
    path = tmp_path / "p.toml"
    path.write_text(text.replace("[data]\n", "[data]\nmax_noise_std = 0.0\n", 1), encoding="utf-8")
    assert load_preset(path).data.max_noise_std == 0.0
    path.write_text(text.replace("[data]\n", "[data]\nmax_noise_std = -1.0\n", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="max_noise_std"):
        SegmentDataset("adiff/none-v0", 8, max_noise_std=load_preset(path).data.max_noise_std)
