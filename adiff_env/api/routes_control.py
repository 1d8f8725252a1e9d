"""Control API: models, health, readiness, Prometheus metrics; admin: keys, audit log, runtime limits.

``/healthz`` and ``/readyz`` answer without a key (probes); ``/metrics`` and ``/v1/admin/*``
need the ``admin`` scope; ``/v1/models`` any valid key.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adiff_env.api.edge import require
from adiff_env.api.planning import NotFound
from adiff_env.api.schemas import (
    AuditRow,
    ErrorBody,
    Health,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    LimitsModel,
    LimitsUpdate,
    ModelSummary,
    ModelVersion,
    Ready,
)
from adiff_env.api.security import create_key
from adiff_env.api.store import JOB_STATES

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (401, 403, 413, 422, 429)}
router = APIRouter(tags=["control"])
NAME = Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@router.get("/healthz", response_model=Health, summary="the process answers")
async def healthz() -> Health:
    return Health(status="ok")


def _readiness(svc: Any) -> Ready:
    checks: dict[str, dict[str, Any]] = {}
    try:
        from adiff_env.registry import ModelRegistry

        models = ModelRegistry().list_models()
        checks["models"] = {"ok": bool(models), "detail": f"{len(models)} models in the registry"}
    except Exception as exc:  # noqa: BLE001
        checks["models"] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    if svc.config.sandbox:
        ok = svc.verdicts.sandbox is not None
        checks["docker"] = {"ok": ok, "detail": "warm pool up" if ok else str(svc.verdicts.error)}
    else:
        checks["docker"] = {"ok": True, "detail": "not configured (verdict route off)"}
    cap, pending = svc.config.limits.plan_queue_cap, svc.batcher.pending
    queued = svc.store.count_jobs(("queued",))
    checks["queue"] = {"ok": pending < cap and queued < svc.config.job_queue_cap,
                       "detail": f"plan queue {pending}/{cap}, jobs queued {queued}/{svc.config.job_queue_cap}"}
    return Ready(ready=all(c["ok"] for c in checks.values()), checks=checks)


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}},
            summary="models loadable, Docker reachable (when configured), queues below their caps")
async def readyz(request: Request) -> Any:
    ready = await anyio.to_thread.run_sync(_readiness, request.app.state.services)
    return JSONResponse(ready.model_dump(), status_code=200 if ready.ready else 503)


@router.get("/metrics", response_class=Response, responses={**AUTH_ERRORS, 200: {"content": {CONTENT_TYPE_LATEST: {}}}},
            summary="Prometheus metrics (admin scope)")
async def metrics(request: Request, _: Any = Depends(require("admin"))) -> Response:
    svc = request.app.state.services
    for status in JOB_STATES:
        svc.metrics.jobs.labels(status).set(svc.store.count_jobs((status,)))
    svc.metrics.plan_queue.set(svc.batcher.pending)
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", response_model=list[ModelSummary], responses=AUTH_ERRORS, summary="models and their versions")
async def list_models(request: Request, _: Any = Depends(require(None))) -> list[ModelSummary]:
    def work() -> dict[str, list[int]]:
        from adiff_env.registry import ModelRegistry

        return ModelRegistry().list_models()

    models = await anyio.to_thread.run_sync(work)
    return [ModelSummary(name=n, versions=v) for n, v in models.items()]


@router.get("/v1/models/{name}", response_model=list[ModelVersion], responses={**AUTH_ERRORS, 404: {"model": ErrorBody}},
            summary="the versions of one model with their metadata")
async def model_versions(request: Request, name: str = NAME, _: Any = Depends(require(None))) -> list[ModelVersion]:
    def work() -> list[ModelVersion]:
        from adiff_env.registry import METADATA, ModelRegistry

        reg = ModelRegistry()
        versions = reg.versions(name)
        if not versions:
            from adiff_env.errors import UnknownNameError

            raise NotFound(str(UnknownNameError("model", name, reg.list_models())))
        out = []
        for v in versions:
            meta = json.loads((reg.resolve(f"{name}@v{v}") / METADATA).read_text())
            out.append(ModelVersion(spec=f"{name}@v{v}", kind=meta.get("kind", "?"), env=meta.get("env"),
                                    dataset=meta.get("dataset"), created_at=meta.get("created_at"),
                                    parent=meta.get("parent"), scores=meta.get("scores") or {}))
        return out

    return await anyio.to_thread.run_sync(work)


# ---------------------------------------------------------------- admin
def _key_info(row: Any) -> KeyInfo:
    return KeyInfo(id=row["id"], scopes=row["scopes"].split(","), name=row["name"], created_at=row["created_at"],
                   revoked_at=row["revoked_at"])


@router.post("/v1/admin/keys", status_code=201, response_model=KeyCreated, responses=AUTH_ERRORS,
             summary="create a key (the key is in this response only)")
async def admin_create_key(body: KeyCreate, request: Request, _: Any = Depends(require("admin"))) -> KeyCreated:
    new = create_key(request.app.state.services.store, body.scopes, body.name)
    return KeyCreated(id=new.key_id, key=new.key, scopes=list(new.scopes), name=new.name)


@router.get("/v1/admin/keys", response_model=list[KeyInfo], responses=AUTH_ERRORS, summary="keys (ids and scopes, no secrets)")
async def admin_list_keys(request: Request, _: Any = Depends(require("admin"))) -> list[KeyInfo]:
    return [_key_info(r) for r in request.app.state.services.store.list_keys()]


@router.post("/v1/admin/keys/{key_id}/revoke", response_model=KeyInfo, responses={**AUTH_ERRORS, 404: {"model": ErrorBody}})
async def admin_revoke_key(request: Request, key_id: str = Path(pattern=r"^[0-9a-f]{8}$"),
                           _: Any = Depends(require("admin"))) -> KeyInfo:
    svc = request.app.state.services
    row = svc.store.get_key(key_id)
    if row is None:
        raise NotFound(f"no key {key_id!r}")
    svc.store.revoke_key(key_id)
    svc.verifier.forget(key_id)
    return _key_info(svc.store.get_key(key_id))


@router.get("/v1/admin/audit", response_model=list[AuditRow], responses=AUTH_ERRORS, summary="audit rows, newest first")
async def admin_audit(request: Request, limit: int = Query(100, ge=1, le=1000),
                      key_id: str | None = Query(None, pattern=r"^[0-9a-f]{8}$"),
                      before_id: int | None = Query(None, ge=1, le=2**62),
                      _: Any = Depends(require("admin"))) -> list[AuditRow]:
    rows = request.app.state.services.store.audit(limit=limit, key_id=key_id, before_id=before_id)
    return [AuditRow(**r) for r in rows]


@router.get("/v1/admin/limits", response_model=LimitsModel, responses=AUTH_ERRORS)
async def admin_limits(request: Request, _: Any = Depends(require("admin"))) -> LimitsModel:
    return LimitsModel(**dataclasses.asdict(request.app.state.services.config.limits))


@router.put("/v1/admin/limits", response_model=LimitsModel, responses=AUTH_ERRORS,
            summary="change runtime limits (rate, burst, concurrency, queue cap, batching)")
async def admin_set_limits(body: LimitsUpdate, request: Request, _: Any = Depends(require("admin"))) -> LimitsModel:
    limits = request.app.state.services.config.limits
    for key, value in body.model_dump(exclude_none=True).items():
        setattr(limits, key, value)
    return LimitsModel(**dataclasses.asdict(limits))
