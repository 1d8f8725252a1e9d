"""``kill -9`` of the server in the middle of a train job, then a fresh start on the same store:
the job resumes from its last checkpoint (``--resume``) and finishes; nothing is left "running";
then an evolve job on the version it registered reports its round and keeps its artifacts.
Also: the verdict route is off without a sandbox, and a public bind is refused without keys."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest
from api_server import Server, client_for, free_port, make_key, write_config

pytestmark = pytest.mark.slow
ENV = "adiff/PointMaze-UMaze-v0"
DATASET = "test/umaze-serve-v0"
TINY = f"""
name = "tiny-serve"
env = "{ENV}"
dataset = "{DATASET}"
[data]
horizon = 16
goal_mode = "hindsight"
min_goal_index = 4
[model]
arch = "temporal_unet"
dim = 8
dim_mults = [1, 2]
[diffusion]
n_timesteps = 8
[train]
steps = 400
batch_size = 16
eval_every = 0
checkpoint_every = 10
inverse_dynamics_hidden = 16
[act]
sampler = "ddim"
sampler_steps = 4
"""
WAIT_S = 300.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A store home, a tiny preset folder and a small real expert dataset (4,000 MuJoCo steps)."""
    from adiff_env.datasets.collect import collect_dataset

    root = tmp_path_factory.mktemp("restart")
    (root / "presets").mkdir()
    (root / "presets" / "tiny-serve.toml").write_text(TINY)
    env = {**os.environ, "ADIFF_HOME": str(root / "adiff"), "MINARI_DATASETS_PATH": str(root / "minari"),
           "MUJOCO_GL": "egl"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        collect_dataset(ENV, 4000, seed=0, dataset_id=DATASET, episode_steps=1000, progress=False)
    config = write_config(root / "serve.toml", root / "serve", free_port(), preset_dirs=[str(root / "presets")])
    return root, config, env


def _job_row(db, job_id: str) -> dict:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    return dict(con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())


def test_kill_9_mid_job_then_restart_resumes_it(setup):
    root, config, env = setup
    port = int(config.read_text().split("port = ")[1].split()[0])
    srv = Server(config, port, env, root / "serve.log").start()
    srv.keys = {"all": make_key(root / "serve", "adapt", "verdict", "admin")}
    try:
        with client_for(srv, "all") as c:
            verdict = c.http.post("/v1/code/verdict", json={"program": "x = 1", "tests": ["assert x == 1"]})
            assert verdict.status_code == 503 and "no sandbox configured" in verdict.text
            job = c.submit_job("train", env_id=ENV, preset="tiny-serve", steps=400, seed=0)
            run_dir = root / "serve" / "jobs" / job["id"] / "run"
            deadline = time.monotonic() + WAIT_S
            while not (run_dir / "resume.pt").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert (run_dir / "resume.pt").exists(), (root / "serve" / "jobs" / job["id"] / "stderr.log").read_text()[-2000:]
        row = _job_row(root / "serve" / "serve.sqlite", job["id"])
        assert row["status"] == "running", row
        srv.kill9()
        pid = row["pid"]
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read().lower() \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower(), \
            "the job's child outlived the killed server"
        assert _job_row(root / "serve" / "serve.sqlite", job["id"])["status"] == "running"  # as the crash left it

        srv.start()  # same store, same port
        with client_for(srv, "all") as c:
            events = list(c.job_events(job["id"]))
            kinds = [e["event"] for e in events]
            done = c.job(job["id"])
        assert done["status"] == "succeeded", (done, kinds)
        assert "interrupted" in kinds and kinds.count("started") == 2 and done["attempts"] == 2
        started = [e["data"] for e in events if e["event"] == "started"]
        assert started[0]["resume"] is False and started[1]["resume"] is True  # continued from resume.pt
        assert any(e["event"] == "progress" for e in events)
        assert done["result"]["registered"].startswith("tiny-serve@v")

        # an evolve job on the version the resumed train job registered: round rows as events
        with client_for(srv, "all") as c:
            evo = c.submit_job("evolve", env_id=ENV, base=done["result"]["registered"], name="tiny-evo", rounds=1,
                               samples=2, candidates=1, finetune_steps=5, eval_episodes=1)
            events = list(c.job_events(evo["id"]))
            evo = c.job(evo["id"])
            assert evo["status"] == "succeeded", (evo, (root / "serve" / "jobs" / evo["id"] / "stderr.log").read_text()[-3000:])
            rounds = [e["data"] for e in events if e["event"] == "round"]
            assert [r["round"] for r in rounds] == [1] and "score" in rounds[0]
            assert {"state.json", "score_by_round.png", "result.json"} <= set(evo["artifacts"])
            assert evo["result"]["rounds"] == 1 and evo["result"]["registered"].startswith("tiny-")
            assert c.artifact(evo["id"], "score_by_round.png")[:4] == b"\x89PNG"
    finally:
        srv.stop()


def test_public_bind_is_refused_without_keys(tmp_path, capsys):
    from adiff_env.cli.main import main

    config = write_config(tmp_path / "public.toml", tmp_path / "serve", free_port())
    assert main(["serve", "--config", str(config), "--host", "0.0.0.0"]) == 2
    assert "not a loopback address" in capsys.readouterr().err
    config.write_text(config.read_text() + "allow_public = true\n")
    assert main(["serve", "--config", str(config), "--host", "0.0.0.0"]) == 2
    assert "no API keys configured" in capsys.readouterr().err
