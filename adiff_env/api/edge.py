"""What every request passes through: request id, body cap (413), audit row, metrics, auth.

:class:`Edge` is a plain ASGI middleware (no per-request task or body buffering): it gives each
request an id (``X-Request-ID``, echoed), counts body bytes as they arrive and answers 413 past
``max_body_bytes``, and after the response queues one audit row (time, key id, route template,
status, latency, request id, and a hash of any program text -- never a key or a program) and
updates the Prometheus metrics. :func:`require` is the auth dependency of every protected route.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import Match

from adiff_env.api.security import retry_after_header

_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
bearer = HTTPBearer(auto_error=False, description="an API key adk_... (adiff keys create --scope SCOPE)")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("adiff_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("adiff_request_seconds", "request latency", ["route"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.batch_size = Histogram("adiff_plan_batch_size", "plans per sampler call", registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.plan_queue = Gauge("adiff_plan_queue_depth", "plan requests waiting or running", registry=r)
        self.jobs = Gauge("adiff_jobs", "jobs by status", ["status"], registry=r)
        self.rejected = Counter("adiff_rejected_total", "requests refused by admission", ["reason"], registry=r)


class _TooLarge(Exception):
    pass


class Edge:
    """ASGI middleware; ``services`` is the app's :class:`~adiff_env.api.app.Services`."""

    def __init__(self, app: Any, services: Any) -> None:
        self.app, self.services = app, services

    def _route(self, scope: dict) -> str:
        for route in self.services.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route.path
        return "(unmatched)"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc = self.services
        tic = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = rid if _RID.match(rid) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        cap = svc.config.max_body_bytes
        status = {"code": 500, "started": False}

        async def send_wrapped(message: dict) -> None:
            if status.get("replied"):  # the 413 is out; the app's own answer is dropped
                return
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message = dict(message, headers=[*message.get("headers", []), (b"x-request-id", rid.encode())])
            await send(message)

        seen = 0

        async def receive_capped() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:  # answer 413 now, then tell the app the client is gone
                    if not status["started"]:
                        await _plain(send_wrapped, 413, f"request body larger than {cap} bytes")
                    status["replied"] = True
                    return {"type": "http.disconnect"}
            return message

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > cap):
                raise _TooLarge()
            await self.app(scope, receive_capped, send_wrapped)
        except _TooLarge:
            if not status["started"]:
                await _plain(send_wrapped, 413, f"request body larger than {cap} bytes")
        except Exception:
            if not status.get("replied"):
                raise
        finally:
            route = self._route(scope)
            ms = 1000 * (time.perf_counter() - tic)
            detail = state.get("audit_detail")
            svc.audit.write((time.time(), rid, state.get("key_id"), scope["method"], route, status["code"], ms,
                             json.dumps(detail) if detail else None))
            svc.metrics.requests.labels(route, scope["method"], str(status["code"])).inc()
            svc.metrics.latency.labels(route).observe(ms / 1000)


async def _plain(send: Any, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def require(scope_name: str | None):
    """Dependency: a valid key (401), with ``scope_name`` (403; None: any scope), within its
    rate (429 + Retry-After) and concurrency cap (429); holds a concurrency slot until the
    response is done."""

    async def dependency(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)):
        svc = request.app.state.services
        if cred is None:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer adk_...'",
                                headers={"WWW-Authenticate": "Bearer"})
        principal = svc.verifier.verify(cred.credentials)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        request.state.key_id = principal.key_id
        if scope_name is not None and scope_name not in principal.scopes:
            raise HTTPException(403, f"this key lacks the {scope_name!r} scope (it has {sorted(principal.scopes)})")
        wait = svc.admission.take(principal.key_id)
        if wait:
            svc.metrics.rejected.labels("rate").inc()
            raise HTTPException(429, f"rate limit of {svc.config.limits.rate_per_s:g}/s exceeded; retry in {wait:.2f} s",
                                headers={"Retry-After": retry_after_header(wait)})
        if not svc.admission.enter(principal.key_id):
            svc.metrics.rejected.labels("concurrency").inc()
            raise HTTPException(429, f"more than {svc.config.limits.max_concurrent} requests of this key in flight",
                                headers={"Retry-After": "1"})
        try:
            yield principal
        finally:
            svc.admission.leave(principal.key_id)

    return dependency
