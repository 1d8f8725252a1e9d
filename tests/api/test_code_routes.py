"""/v1/code/generate (plain and streamed) and /v1/code/verdict in the real Docker sandbox."""

from __future__ import annotations

import json
import time

import pytest

from adiff_env.api import ApiError

pytestmark = pytest.mark.slow
PROMPT = 'def add(a, b):\n    """Return a + b."""\n'


def test_generate_programs(client):
    out = client.generate_code(PROMPT, samples=2, steps=4, seed=1)
    assert out["model"] == "coder-default@v1" and len(out["programs"]) == 2
    assert all(isinstance(p["program"], str) and p["logp"] <= 0 for p in out["programs"])
    assert client.generate_code(PROMPT, samples=2, steps=4, seed=1)["programs"] == out["programs"]  # seeded
    assert len(client.generate_code(PROMPT)["programs"]) == 2  # the checkpoint's default 16 is held to the cap of 2


def test_generate_streams_denoising_steps(client):
    events = list(client.stream_code(PROMPT, samples=2, steps=4, seed=1))
    steps = [e["data"]["step"] for e in events if e["event"] == "step"]
    assert steps == [1, 2, 3, 4] and events[-1]["event"] == "result"
    assert len(events[-1]["data"]["programs"]) == 2


def test_generate_errors(client):
    with pytest.raises(ApiError) as err:  # above this server's prompt cap of 300 characters
        client.generate_code("x" * 400)
    assert err.value.status == 422 and "prompt" in str(err.value.detail)
    for kw, status in (({"samples": 3}, 422), ({"steps": 0}, 422), ({"model": "no-such-coder"}, 404),
                       ({"model": "../etc"}, 422)):
        with pytest.raises(ApiError) as err:
            client.generate_code(PROMPT, **kw)
        assert err.value.status == status, (kw, err.value)


def test_verdict_per_test(server, client, docker_client):
    assert server.docker, "a Docker engine answers but the test server started without its sandbox"
    program = "def add(a, b):\n    return a + b\n"
    out = client.verdict(program, tests=["assert add(1, 2) == 3", "assert add(2, 2) == 5"])
    assert [t["passed"] for t in out["tests"]] == [True, False] and out["passed"] == 1 and out["total"] == 2
    assert out["tests"][1]["error_type"] == "AssertionError" and not out["all_passed"]
    hang = client.verdict("while True:\n    pass\n", tests=["assert True"], limits={"wall_s": 1.0})
    assert hang["timed_out"] and hang["passed"] == 0
    with pytest.raises(ApiError) as err:  # above this server's clamp of 3 s
        client.verdict(program, tests=["assert True"], limits={"wall_s": 9.0})
    assert err.value.status == 422


def test_verdict_on_a_suite_task_hides_its_tests(server, client, docker_client):
    assert server.docker
    from adiff_env.code.tasks.suites import load_tasks

    task = load_tasks("procedural:test:1")[0]
    out = client.verdict(task.solution, suite="procedural:test:1", task_id=task.task_id)
    assert out["all_passed"] and out["total"] == len(task.tests)
    wrong = client.verdict("def nothing():\n    pass\n", suite="procedural:test:1", task_id=task.task_id)
    assert wrong["passed"] == 0 and all(t["message"] == "" for t in wrong["tests"])
    assert not any(test in json.dumps(wrong) for test in task.tests)
    with pytest.raises(ApiError) as err:
        client.verdict("x = 1", suite="procedural:test:1", task_id="no-such-task")
    assert err.value.status == 404


def test_verdict_audit_holds_a_hash_not_the_program(server, client, docker_client):
    assert server.docker
    secret = "def add(a, b):\n    return a + b  # SECRET-MARKER-9c1\n"
    out = client.verdict(secret, tests=["assert add(1, 1) == 2"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = [r for r in client.audit(limit=50) if r["route"] == "/v1/code/verdict" and r["detail"]]
        if any(out["program_sha256"] in r["detail"] for r in rows):
            break
        time.sleep(0.2)
    assert any(out["program_sha256"] in r["detail"] for r in rows)
    assert "SECRET-MARKER" not in json.dumps(client.audit(limit=1000))
