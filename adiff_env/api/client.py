"""``Client``: the service's endpoints as methods (httpx), for scripts and the tests.

Every method returns the decoded JSON (or bytes / parsed SSE events) and raises
:class:`ApiError` (with ``status``, ``detail`` and ``retry_after``) on a non-2xx answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, detail: Any, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.retry_after = status, detail, retry_after


def parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Events ``{"id", "event", "data"}`` from server-sent-event lines (``data`` JSON-decoded)."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in event:
                event["data"] = json.loads(event["data"])
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            event[field] = value[1:] if value.startswith(" ") else value


class Client:
    """``Client("http://127.0.0.1:8000", key="adk_...")``; ``timeout`` in seconds per request."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", key: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail")
            except (ValueError, AttributeError):
                detail = r.text
            raise ApiError(r.status_code, detail, r.headers.get("retry-after"))
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content

    @staticmethod
    def _body(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}

    # -- generation ---------------------------------------------------------------------
    def plan(self, model: str, env_id: str, observation: list[float], goal: list[float], **options: Any) -> dict:
        """``POST /v1/plan``; ``options``: sampler, steps, candidates, seed, return_plan."""
        return self._call("POST", "/v1/plan", json=self._body(model=model, env_id=env_id, observation=list(observation),
                                                              goal=list(goal), **options))

    def generate_code(self, prompt: str, model: str = "default", **options: Any) -> dict:
        """``POST /v1/code/generate``; ``options``: samples, steps, temperature, seed."""
        return self._call("POST", "/v1/code/generate", json=self._body(prompt=prompt, model=model, **options))

    def stream_code(self, prompt: str, model: str = "default", **options: Any) -> Iterator[dict[str, Any]]:
        """``POST /v1/code/generate`` with ``stream``: ``step`` events, then ``result``."""
        body = self._body(prompt=prompt, model=model, stream=True, **options)
        with self.http.stream("POST", "/v1/code/generate", json=body) as r:
            if r.status_code >= 400:
                r.read()
                raise ApiError(r.status_code, r.json().get("detail"))
            yield from parse_sse(r.iter_lines())

    def verdict(self, program: str, tests: list[str] | None = None, suite: str | None = None,
                task_id: str | None = None, **options: Any) -> dict:
        """``POST /v1/code/verdict``; ``options``: setup, limits ({wall_s, memory_mb})."""
        return self._call("POST", "/v1/code/verdict", json=self._body(program=program, tests=tests, suite=suite,
                                                                      task_id=task_id, **options))

    # -- adaptation ---------------------------------------------------------------------
    def submit_job(self, kind: str, idempotency_key: str | None = None, **params: Any) -> dict:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/v1/jobs", json=self._body(kind=kind, **params), headers=headers)

    def job(self, job_id: str) -> dict:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def jobs(self, limit: int = 100) -> list[dict]:
        return self._call("GET", "/v1/jobs", params={"limit": limit})

    def cancel_job(self, job_id: str) -> dict:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    def job_events(self, job_id: str, after: int = 0, follow: bool = True) -> Iterator[dict[str, Any]]:
        """``GET /v1/jobs/{id}/events`` (SSE) until the ``end`` event."""
        params = {"after": after, "follow": str(follow).lower()}
        with self.http.stream("GET", f"/v1/jobs/{job_id}/events", params=params, timeout=None) as r:
            if r.status_code >= 400:
                r.read()
                raise ApiError(r.status_code, r.json().get("detail"))
            yield from parse_sse(r.iter_lines())

    def artifacts(self, job_id: str) -> list[dict]:
        return self._call("GET", f"/v1/jobs/{job_id}/artifacts")

    def artifact(self, job_id: str, name: str) -> bytes:
        r = self.http.get(f"/v1/jobs/{job_id}/artifacts/{name}")
        if r.status_code >= 400:
            raise ApiError(r.status_code, r.json().get("detail"))
        return r.content

    # -- control ------------------------------------------------------------------------
    def models(self) -> list[dict]:
        return self._call("GET", "/v1/models")

    def model_versions(self, name: str) -> list[dict]:
        return self._call("GET", f"/v1/models/{name}")

    def health(self) -> dict:
        return self._call("GET", "/healthz")

    def ready(self) -> dict:
        r = self.http.get("/readyz")
        return r.json()

    def metrics(self) -> str:
        return self._call("GET", "/metrics").decode()

    def create_key(self, scopes: list[str], name: str | None = None) -> dict:
        return self._call("POST", "/v1/admin/keys", json=self._body(scopes=scopes, name=name))

    def keys(self) -> list[dict]:
        return self._call("GET", "/v1/admin/keys")

    def revoke_key(self, key_id: str) -> dict:
        return self._call("POST", f"/v1/admin/keys/{key_id}/revoke")

    def audit(self, limit: int = 100, key_id: str | None = None) -> list[dict]:
        return self._call("GET", "/v1/admin/audit", params=self._body(limit=limit, key_id=key_id))

    def limits(self) -> dict:
        return self._call("GET", "/v1/admin/limits")

    def set_limits(self, **limits: Any) -> dict:
        return self._call("PUT", "/v1/admin/limits", json=limits)
