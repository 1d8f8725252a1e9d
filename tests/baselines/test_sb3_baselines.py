"""SB3 baselines: SAC + HER and PPO trained for a few steps on a real maze, registered, loaded
back as agents (from the registry and from a plain zip) acting on the raw dict observation."""

from __future__ import annotations

import zipfile

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.baselines.sb3 import train_sb3, zip_algorithm
from adiff_env.cli.main import main
from adiff_env.errors import UnknownNameError
from adiff_env.registry import ModelRegistry

ENV = "adiff/PointMaze-UMaze-v0"
SHORT = {"max_episode_steps": 30}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    registry = ModelRegistry(tmp_path_factory.mktemp("sb3"))
    sac = train_sb3("sac-her", ENV, 64, registry=registry, progress=False, env_kwargs=SHORT, batch_size=16)
    ppo = train_sb3("ppo", ENV, 64, registry=registry, progress=False, n_steps=32, batch_size=16)
    return {"sac": sac, "ppo": ppo}


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_sb3_agent_acts_on_the_raw_dict_observation(models, algo):
    ckpt = models[algo]
    assert ckpt.metadata.kind == "sb3" and (ckpt.path / "model.zip").is_file()
    assert ckpt.config["algo"] == algo
    assert ckpt.config["flatten_keys"] == (None if algo == "sac" else ["observation", "desired_goal"])
    env = gym.make(ENV)
    agent = make_agent(f"sb3:{ckpt.path}", env)
    assert agent.batch_predict
    obs, _ = env.reset(seed=1)
    action, _ = agent.predict(obs)
    assert action.shape == (2,) and env.action_space.contains(action.astype(np.float32))
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    actions, _ = agent.predict(batch)
    assert actions.shape == (2, 2)
    np.testing.assert_allclose(actions[0], action, atol=1e-6)
    from_zip = make_agent(f"sb3:{ckpt.path / 'model.zip'}", env)
    np.testing.assert_allclose(from_zip.predict(obs)[0], action, atol=1e-6)
    assert from_zip.flatten_keys == (None if algo == "sac" else ("observation", "desired_goal"))
    for _ in range(5):
        obs, *_ = env.step(agent.predict(obs)[0])


def test_zip_algorithm_reads_the_zip_without_unpickling(models, tmp_path):
    assert zip_algorithm(models["sac"].path / "model.zip") == "sac"
    assert zip_algorithm(models["ppo"].path / "model.zip") == "ppo"
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not a Stable-Baselines3 model zip"):
        zip_algorithm(bad)
    odd = tmp_path / "odd.zip"
    with zipfile.ZipFile(odd, "w") as zf:
        zf.writestr("data", '{"policy_class": {"__module__": "mylib.policies"}}')
    with pytest.raises(ValueError, match="cannot tell the SB3 algorithm"):
        zip_algorithm(odd)


def test_sb3_spec_and_training_errors(tmp_path):
    env = gym.make(ENV)
    with pytest.raises(ValueError, match="needs a model"):
        make_agent("sb3", env)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_agent(f"sb3:{tmp_path / 'missing.zip'}", env)
    with pytest.raises(UnknownNameError, match="sac-her"):
        train_sb3("td3", ENV, 10)
    with pytest.raises(ValueError, match="learning_starts=5 must exceed the episode length 30"):
        train_sb3("sac-her", ENV, 10, env_kwargs=SHORT, learning_starts=5)
    with pytest.raises(ValueError, match="positive integer"):
        train_sb3("ppo", ENV, 0)


def test_cli_trains_sb3_ppo(capsys):
    code = main(["baselines", "train", "sb3-ppo", ENV, "--steps", "32", "--name", "ppo-cli",
                 "--set", "n_steps=32", "--set", "batch_size=16", "--quiet"])
    assert code == 0 and "--agent sb3:ppo-cli@v1" in capsys.readouterr().out
    assert ModelRegistry().load("ppo-cli", kind="sb3").config["algo"] == "ppo"
    assert main(["baselines", "train", "sb3-sac-her", ENV, "--steps", "5", "--dataset", "x"]) == 2
    assert "drop --dataset" in capsys.readouterr().err
