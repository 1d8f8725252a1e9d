"""The service end to end: a real ``adiff serve`` on 127.0.0.1, httpx clients, every route and error path."""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
import uuid

import httpx
import pytest
from api_server import client_for

from adiff_env.api import ApiError

pytestmark = pytest.mark.slow
MODEL, ENV = "pointmaze-umaze", "adiff/PointMaze-UMaze-v0"
START, GOAL = [0.0, -1.0, 0.0, 0.0], [-1.0, 1.0]


def raises(status: int, fn, *args, **kw) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kw)
    assert info.value.status == status, info.value
    return info.value


def test_health_and_ready_need_no_key(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["ready"] is True and set(ready["checks"]) == {"models", "docker", "queue"}


def test_plan_returns_action_and_plan(client):
    out = client.plan(MODEL, ENV, START, GOAL, steps=4)
    assert out["model"] == "pointmaze-umaze@v2"
    assert len(out["action"]) == 2 and all(-1.0 <= a <= 1.0 for a in out["action"])
    assert len(out["plan"]) == 128 and len(out["plan"][0]) == 6
    assert out["plan"][0][2:4] == pytest.approx(START[:2], abs=1e-4)  # the plan starts where the agent is
    assert out["timings"]["batch_size"] >= 1 and out["timings"]["total_ms"] > 0


def test_seeded_plans_repeat(client):
    a = client.plan(MODEL, ENV, START, GOAL, steps=2, seed=7)
    b = client.plan(MODEL, ENV, START, GOAL, steps=2, seed=7)
    assert a["plan"] == b["plan"] and a["timings"]["batch_size"] == 1


def test_concurrent_plans_share_sampler_calls(server):
    def one(i: int) -> dict:
        with client_for(server, "generate") as c:
            return c.plan(MODEL, ENV, START, [-1.0 + 0.01 * i, 1.0], steps=2, return_plan=False)

    with cf.ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(one, range(16)))
    assert len(outs) == 16 and all(len(o["action"]) == 2 for o in outs)
    assert max(o["timings"]["batch_size"] for o in outs) > 1  # 16 waiting requests cannot all run alone


@pytest.mark.parametrize(("name", "status"), [(None, 401), ("adapt", 403), ("verdict", 403)])
def test_plan_needs_a_key_with_the_generate_scope(server, name, status):
    with client_for(server, name) as c:
        raises(status, c.plan, MODEL, ENV, START, GOAL)


def test_bad_keys_and_scopes(server):
    with client_for(server, None) as c:
        c.http.headers["Authorization"] = "Bearer adk_00000000_forged"
        raises(401, c.models)
    with client_for(server, "generate") as c:
        raises(403, c.submit_job, "evaluate", env_id=ENV, agent="random")
        raises(403, c.metrics)
        raises(403, c.keys)
    with client_for(server, "adapt") as c:
        assert {m["name"] for m in c.models()} >= {MODEL}  # any valid key lists models


@pytest.mark.parametrize(("body", "field"), [
    ({"steps": 0}, "steps"), ({"steps": 5}, "steps"),  # 5 > this server's clamp of 4
    ({"candidates": 99}, "candidates"), ({"sampler": "euler"}, "sampler"), ({"surprise": 1}, "surprise"),
    ({"observation": [0.0, -1.0]}, "observation"), ({"goal": [9.0, 9.0]}, "goal"),
    ({"reward": {"goal": 1.0}}, "reward"), ({"observation": []}, "observation"),
])
def test_bad_fields_get_422_naming_the_field(client, body, field):
    payload = {"model": MODEL, "env_id": ENV, "observation": START, "goal": GOAL, **body}
    r = client.http.post("/v1/plan", json=payload)
    assert r.status_code == 422, r.text
    assert any(field in d["loc"] for d in r.json()["detail"]), r.json()
    if field == "reward":
        assert "not supported yet" in r.text


def test_unknown_model_and_env_are_404(client):
    err = raises(404, client.plan, "no-such-model", ENV, START, GOAL)
    assert "pointmaze-umaze" in err.detail  # the known models are listed
    raises(404, client.plan, MODEL, "adiff/NoSuchEnv-v0", START, GOAL)
    raises(404, client.plan, f"{MODEL}@v99", ENV, START, GOAL)
    raises(404, client.model_versions, "no-such-model")
    versions = client.model_versions(MODEL)
    assert versions[0]["spec"] == "pointmaze-umaze@v2" and versions[0]["kind"] == "trajectory-planner"


def test_too_large_body_is_413(client, server):
    big = {"model": MODEL, "env_id": ENV, "observation": START, "goal": GOAL, "pad": "x" * (2 << 20)}
    assert client.http.post("/v1/plan", json=big).status_code == 413
    chunks = (b"x" * 65536 for _ in range(40))  # no Content-Length: counted as it arrives
    r = client.http.post("/v1/plan", content=chunks, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_rate_limit_answers_429_with_retry_after(server, client):
    old = client.limits()
    try:
        client.set_limits(rate_per_s=0.5, burst=2)
        with client_for(server, "generate") as c:
            statuses = []
            for _ in range(6):
                r = c.http.get("/v1/models")
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1
        assert 429 in statuses and statuses[0] == 200
    finally:
        client.set_limits(**{k: old[k] for k in ("rate_per_s", "burst")})


def test_keys_admin_create_list_revoke(server, client):
    made = client.create_key(["generate"], name="temp")
    assert made["key"].startswith("adk_") and made["scopes"] == ["generate"]
    listed = {k["id"]: k for k in client.keys()}
    assert made["id"] in listed and "key" not in listed[made["id"]]
    with client_for(server, None) as c:
        c.http.headers["Authorization"] = f"Bearer {made['key']}"
        assert c.models()
        client.revoke_key(made["id"])
        raises(401, c.models)


def test_audit_rows_name_the_route_never_the_key(server, client):
    rid = uuid.uuid4().hex
    client.http.get("/v1/models", headers={"X-Request-ID": rid})
    key_id = server.keys["all"].split("_")[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = [r for r in client.audit(limit=200, key_id=key_id) if r["request_id"] == rid]
        if rows:
            break
        time.sleep(0.2)
    assert rows[0]["route"] == "/v1/models" and rows[0]["status"] == 200 and rows[0]["method"] == "GET"
    dump = json.dumps(client.audit(limit=1000))
    assert server.keys["all"] not in dump and server.keys["all"].split("_")[2] not in dump


def test_metrics_are_prometheus_text(client):
    client.models()
    text = client.metrics()
    assert "adiff_requests_total" in text and 'route="/v1/models"' in text and "adiff_plan_batch_size" in text


def test_openapi_matches_the_checked_in_document(server):
    from adiff_env.api.openapi import OPENAPI_PATH

    served = httpx.get(f"{server.url}/openapi.json").json()
    assert served == json.loads(OPENAPI_PATH.read_text()), "run: adiff serve --print-openapi > adiff_env/api/openapi.json"
