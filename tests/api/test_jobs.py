"""Jobs over HTTP: an evaluate job end to end (events over SSE, artifacts), idempotent retries, cancel."""

from __future__ import annotations

import json
import os
import time

import pytest
from api_server import client_for

from adiff_env.api import ApiError

pytestmark = pytest.mark.slow
ENV = "adiff/PointMaze-UMaze-v0"
WAIT_S = 300.0  # generous: a job child imports torch and MuJoCo on a busy machine


def wait_for(client, job_id: str, states: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["status"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {client.job(job_id)}")


def test_evaluate_job_runs_streams_events_and_keeps_artifacts(client):
    job = client.submit_job("evaluate", env_id=ENV, agent="expert", episodes=1)
    assert job["status"] == "queued" and job["kind"] == "evaluate"
    events = list(client.job_events(job["id"]))  # follows until the job ends
    kinds = [e["event"] for e in events]
    assert kinds[0] == "queued" and "started" in kinds and kinds[-2:] == ["succeeded", "end"], kinds
    done = client.job(job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result"]["episodes"] == 1 and done["result"]["success_rate"] == 1.0
    assert {"result.json", "stdout.log", "stderr.log"} <= set(done["artifacts"])
    assert json.loads(client.artifact(job["id"], "result.json")) == done["result"]
    with pytest.raises(ApiError) as err:
        client.artifact(job["id"], "../serve.sqlite")
    assert err.value.status == 404
    replay = list(client.job_events(job["id"], after=events[1]["id"] if "id" in events[1] else 0, follow=False))
    assert replay[-1]["event"] == "end" and len(replay) < len(events)


def test_idempotency_key_makes_retries_safe(client):
    body = dict(env_id=ENV, agent="random", episodes=1, seed=3)
    first = client.submit_job("evaluate", idempotency_key="retry-1", **body)
    again = client.submit_job("evaluate", idempotency_key="retry-1", **body)
    assert again["id"] == first["id"]
    with pytest.raises(ApiError) as err:
        client.submit_job("evaluate", idempotency_key="retry-1", **{**body, "seed": 4})
    assert err.value.status == 409
    other = client.submit_job("evaluate", idempotency_key="retry-2", **body)
    assert other["id"] != first["id"]
    client.cancel_job(first["id"]), client.cancel_job(other["id"])


def test_cancel_kills_the_running_child(client, server):
    job = client.submit_job("evaluate", env_id=ENV, agent="expert", episodes=3)
    running = wait_for(client, job["id"], ("running", "succeeded", "failed"))
    assert running["status"] == "running", running
    import sqlite3

    pid = sqlite3.connect(server.home / "serve.sqlite").execute("SELECT pid FROM jobs WHERE id = ?", (job["id"],)).fetchone()[0]
    assert pid and os.path.exists(f"/proc/{pid}")
    client.cancel_job(job["id"])
    done = wait_for(client, job["id"], ("cancelled", "succeeded", "failed"))
    assert done["status"] == "cancelled", done
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


def test_job_errors(client, server):
    def status(fn, *a, **kw) -> int:
        with pytest.raises(ApiError) as err:
            fn(*a, **kw)
        return err.value.status

    assert status(client.submit_job, "evaluate", env_id="adiff/Nope-v0", agent="random") == 404
    assert status(client.submit_job, "evolve", env_id=ENV, base="no-such-planner") == 404
    assert status(client.submit_job, "train", env_id=ENV, preset="no-such-preset") == 404
    assert status(client.submit_job, "evaluate", env_id=ENV, agent="planner:/etc/passwd") == 422
    assert status(client.submit_job, "evaluate", env_id=ENV, agent="random", episodes=50) == 422  # clamp 3
    assert status(client.submit_job, "sleep", env_id=ENV) == 422
    assert status(client.job, "0123456789abcdef") == 404
    assert status(client.cancel_job, "0123456789abcdef") == 404
    mine = client.submit_job("evaluate", env_id=ENV, agent="random", episodes=1)
    with client_for(server, "adapt") as other:  # another key does not see this job
        assert status(other.job, mine["id"]) == 404
        assert mine["id"] not in {j["id"] for j in other.jobs()}
    client.cancel_job(mine["id"])
