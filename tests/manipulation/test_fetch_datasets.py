"""Fetch datasets through the same atomic Minari collection as the mazes (the conftest gives
each test its own MINARI_DATASETS_PATH): 50-step episodes, noise labels, versions, recipes."""

from __future__ import annotations

import json
from pathlib import Path

import minari
import numpy as np
import pytest

from adiff_env.cli.main import main
from adiff_env.datasets.collect import collect_dataset
from adiff_env.datasets.recipes import shipped_recipes


def test_tiny_fetch_dataset_collects_and_reloads():
    result = collect_dataset("adiff/FetchPickAndPlace-v0", 300, noise_std=0.2, seed=3, dataset_id="adiff/tiny-pick-v0",
                             episode_steps=50, continuing=False, env_kwargs={"goal_region": "table"},
                             noisy_fraction=0.5, episodes_per_task=3, workers=2, progress=False)
    assert (result.total_steps, result.total_episodes) == (300, 6)
    ds = minari.load_dataset("adiff/tiny-pick-v0")
    episodes = list(ds.iterate_episodes())
    labels = []
    for ep in episodes:
        assert len(ep.actions) == 50 and ep.observations["observation"].shape == (51, 25)
        assert ep.truncations[-1] and not ep.truncations[:-1].any() and not ep.terminations.any()
        assert set(np.unique(ep.rewards)) <= {-1.0, 0.0}
        np.testing.assert_allclose(ep.observations["desired_goal"][:, 2], ep.observations["desired_goal"][0, 2])
        noise = ep.infos["noise_std"]
        assert noise.shape == (51,) and len(set(noise.tolist())) == 1
        labels.append(float(noise[0]))
    assert set(labels) == {0.0, 0.2}  # a labelled mix of clean and noisy episodes
    clean = [ep for ep, n in zip(episodes, labels, strict=True) if n == 0.0]
    assert all(ep.rewards[-1] == 0.0 for ep in clean)  # the clean expert ends on the goal
    meta = ds.storage.metadata
    assert meta["adiff_versions"]["mujoco"] and meta["adiff_versions"]["gymnasium-robotics"]
    assert meta["adiff_recipe"]["continuing"] is False and meta["adiff_recipe"]["noisy_fraction"] == 0.5
    assert "scripted Fetch expert" in meta["algorithm_name"]
    env = ds.recover_environment()
    try:
        assert env.spec.kwargs["goal_region"] == "table" and env.spec.max_episode_steps == 50
        assert "reset_target" not in env.spec.kwargs
    finally:
        env.close()


def test_fetch_recipe_through_the_cli(capsys):
    rc = main(["datasets", "collect", "--recipe", "fetch-push", "--steps", "100", "--workers", "1",
               "--dataset-id", "adiff/cli-push-v0", "--json", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["total_steps"], out["total_episodes"]) == (100, 2)
    ds = minari.load_dataset("adiff/cli-push-v0")
    assert ds.recover_environment(eval_env=True).spec.id == "adiff/FetchPush-v0"


def test_shipped_fetch_recipes():
    recipes = {k: v for k, v in shipped_recipes().items() if k.startswith("fetch-")}
    assert set(recipes) == {"fetch-push", "fetch-push-xl", "fetch-pickandplace-table", "fetch-pickandplace"}
    for recipe in recipes.values():
        assert recipe.episode_steps == 50 and recipe.continuing is False and recipe.steps % 50 == 0
        assert 0 < recipe.noisy_fraction < 1
    assert recipes["fetch-pickandplace-table"].env_kwargs == {"goal_region": "table"}  # seen task only
    push, xl = recipes["fetch-push"], recipes["fetch-push-xl"]  # the same settings, 3x the episodes, another seed
    assert (xl.env, xl.noise, xl.noisy_fraction, xl.episodes_per_task) == (push.env, push.noise, push.noisy_fraction,
                                                                          push.episodes_per_task)
    assert xl.steps == 3 * push.steps and xl.seed != push.seed and xl.resolved_dataset_id == "adiff/fetch-push-xl-v0"
    root = Path(__file__).resolve().parents[2] / "datasets"
    assert all((root / f"{name}.md").is_file() for name in recipes)  # every recipe has its card


def test_bad_collection_options():
    with pytest.raises(ValueError, match="noisy_fraction"):
        collect_dataset("adiff/FetchPush-v0", 100, episode_steps=50, continuing=False, noisy_fraction=1.5)
    with pytest.raises(ValueError, match="episodes_per_task"):
        collect_dataset("adiff/FetchPush-v0", 100, episode_steps=50, continuing=False, episodes_per_task=0)
