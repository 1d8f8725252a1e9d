"""SAC + HER on real Fetch through the CLI (a few hundred steps, with snapshots), the trained push
model acting on FetchPush-Avoid (whose observation adds a key), and ``adiff demo fetch``
writing a GIF and a PNG strip rendered headless."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.cli.main import main
from adiff_env.manipulation.demo import save_frames
from adiff_env.registry import ModelRegistry


@pytest.mark.slow
def test_cli_trains_sac_her_on_fetch_and_the_model_acts_on_the_avoid_variant(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["baselines", "train", "sb3-sac-her", "adiff/FetchPush-v0", "--steps", "120", "--name", "sac-tiny",
                 "--set", "learning_starts=60", "--set", "batch_size=32", "--set", "buffer_size=1000", "--set", "gamma=0.95",
                 "--set", 'policy_kwargs={"net_arch":[32,32]}', "--run-dir", str(run_dir),
                 "--checkpoint-every", "60", "--quiet"]) == 0
    assert "saved sac-tiny@v1" in capsys.readouterr().out
    ckpt = ModelRegistry().load("sac-tiny", kind="sb3")
    meta = json.loads((ckpt.path / "metadata.json").read_text())
    assert meta["env"] == "adiff/FetchPush-v0" and meta["steps"] == 120
    assert meta["extra"]["algo_kwargs"]["policy_kwargs"] == {"net_arch": [32, 32]}  # the run records its settings
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.zip")) == ["sac-her_120_steps.zip", "sac-her_60_steps.zip"]
    env = gym.make("adiff/FetchPush-Avoid-v0")
    try:
        obs, _ = env.reset(seed=0)
        assert "forbidden_zone" in obs
        for spec in ("sb3:sac-tiny", f"sb3:{run_dir / 'checkpoints' / 'sac-her_60_steps.zip'}"):
            action, _ = make_agent(spec, env).predict(obs)
            assert action.shape == (4,) and np.all(np.abs(action) <= 1.0)
    finally:
        env.close()


def test_checkpoint_every_needs_a_run_dir(capsys):
    assert main(["baselines", "train", "sb3-sac-her", "adiff/FetchPush-v0", "--steps", "10",
                 "--checkpoint-every", "5"]) == 2
    assert "give --run-dir too" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_fetch_writes_a_gif_and_a_png_strip(tmp_path, capsys):
    gif = tmp_path / "push.gif"
    assert main(["demo", "fetch", "--out", str(gif), "--size", "64", "--frame-every", "5"]) == 0
    out = capsys.readouterr().out
    assert "expert on adiff/FetchPush-v0, seed 0" in out and "11 frames" in out
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 11 and im.size == (64, 64)
        frames = []
        for k in (0, 10):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB"), dtype=np.int16))
    assert np.abs(frames[0] - frames[1]).mean() > 0.5  # the arm moved: frames are rendered, not blank copies
    png = tmp_path / "avoid.png"
    assert main(["demo", "fetch", "--env", "adiff/FetchPush-Avoid-v0", "--out", str(png), "--size", "48"]) == 0
    assert "steps in the zone" in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (8 * 48, 48)


def test_demo_fetch_errors(tmp_path, capsys):
    assert main(["demo", "fetch", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "--out must name a .gif or .png" in capsys.readouterr().err
    assert main(["demo", "fetch", "--agent", "bc", "--out", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err
    assert "'bc' (bc:bc-fetch-push) is not available" in err and "baselines train bc adiff/FetchPush-v0" in err
    with pytest.raises(ValueError, match=r"shape \[N, H, W, 3\]"):
        save_frames(np.zeros((2, 4, 4)), tmp_path / "bad.gif")
    assert not list(tmp_path.iterdir())
