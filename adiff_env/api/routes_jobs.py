"""Adaptation API: jobs (evolve, train, evaluate) as child processes; status, events (SSE), cancel, artifacts.

A key sees its own jobs (an ``admin`` key sees all); another key's job id answers 404.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from adiff_env.api.edge import require
from adiff_env.api.planning import FieldError, NotFound, check_env_id
from adiff_env.api.schemas import Artifact, ErrorBody, JobRequest, JobResponse
from adiff_env.api.security import Principal
from adiff_env.api.store import FINAL_STATES, JobRow

ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (401, 403, 404, 413, 422, 429)}
router = APIRouter(tags=["adaptation"], responses=ERRORS)
JOB_ID = Path(pattern=r"^[0-9a-f]{16}$", description="job id")
POLL_S = 0.25
HEARTBEAT_S = 10.0


def job_response(svc: Any, row: JobRow) -> JobResponse:
    return JobResponse(id=row.id, kind=row.kind, status=row.status, params=row.params, created_at=row.created_at,
                       started_at=row.started_at, finished_at=row.finished_at, attempts=row.attempts,
                       error=row.error, result=row.result, artifacts=sorted(svc.jobs.artifacts(row)))


def _own_job(svc: Any, job_id: str, who: Principal) -> JobRow:
    row = svc.store.get_job(job_id)
    if row is None or (row.key_id != who.key_id and "admin" not in who.scopes):
        raise NotFound(f"no job {job_id!r}")
    return row


def _check_inputs(svc: Any, params: dict[str, Any]) -> None:
    """Fail before the work: numbers above the server's clamps are 422, unknown env ids, base
    models and presets 404 now, not a failed job later."""
    c = svc.config.clamps
    for name, cap in (("episodes", c.max_eval_episodes), ("eval_episodes", c.max_eval_episodes),
                      ("rounds", c.max_evolve_rounds), ("steps", c.max_train_steps),
                      ("finetune_steps", c.max_train_steps)):
        value = params.get(name)
        if value is not None and value > cap:
            raise FieldError(("body", params["kind"], name), f"{name} = {value} is above this server's cap of {cap}.")
    check_env_id(params["env_id"])
    if params["kind"] == "evolve":
        svc.planners.pin(params["base"])
    elif params["kind"] == "train":
        try:
            svc.jobs.preset_path(params["preset"])
        except ValueError as exc:
            raise NotFound(str(exc)) from None
    elif params["kind"] == "evaluate":
        kind, _, arg = params["agent"].partition(":")
        if kind in ("planner", "coder") and arg and arg != "default":
            svc.planners.pin(arg)


@router.post("/v1/jobs", status_code=202, response_model=JobResponse, responses={409: {"model": ErrorBody}},
             summary="start an evolve, train or evaluate job")
async def create_job(request: Request, response: Response, job: JobRequest,
                     idempotency_key: str | None = Header(None, max_length=200, pattern=r"^[\x21-\x7e]+$"),
                     who: Principal = Depends(require("adapt"))) -> JobResponse:
    svc = request.app.state.services
    params = job.model_dump()
    await anyio.to_thread.run_sync(_check_inputs, svc, params)
    row, created = svc.jobs.submit(params, who.key_id, idempotency_key)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return job_response(svc, row)


@router.get("/v1/jobs", response_model=list[JobResponse], summary="this key's jobs, oldest first")
async def list_jobs(request: Request, limit: int = Query(100, ge=1, le=1000),
                    who: Principal = Depends(require("adapt"))) -> list[JobResponse]:
    svc = request.app.state.services
    rows = [r for r in svc.store.jobs(limit=100_000) if r.key_id == who.key_id or "admin" in who.scopes]
    return [job_response(svc, r) for r in rows[-limit:]]


@router.get("/v1/jobs/{job_id}", response_model=JobResponse)
async def get_job(request: Request, job_id: str = JOB_ID, who: Principal = Depends(require("adapt"))) -> JobResponse:
    svc = request.app.state.services
    return job_response(svc, _own_job(svc, job_id, who))


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobResponse,
             summary="cancel (a running child is terminated, then killed)")
async def cancel_job(request: Request, job_id: str = JOB_ID, who: Principal = Depends(require("adapt"))) -> JobResponse:
    svc = request.app.state.services
    _own_job(svc, job_id, who)
    return job_response(svc, svc.jobs.cancel(job_id))


@router.get("/v1/jobs/{job_id}/events", responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
            summary="server-sent events: queued, started, round (evolve), progress (train), the end state")
async def job_events(request: Request, job_id: str = JOB_ID, after: int = Query(0, ge=0, le=2**62),
                     follow: bool = Query(True, description="keep the stream open until the job ends"),
                     last_event_id: str | None = Header(None, max_length=20, pattern=r"^[0-9]+$"),
                     who: Principal = Depends(require("adapt"))) -> StreamingResponse:
    svc = request.app.state.services
    _own_job(svc, job_id, who)
    start = max(after, int(last_event_id) if last_event_id else 0)

    async def stream():
        last, beat = start, time.monotonic()
        while True:
            rows = svc.store.events(job_id, after=last)
            for e in rows:
                last = e["id"]
                yield f"id: {e['id']}\nevent: {e['type']}\ndata: {json.dumps({'time': e['time'], **_as_dict(e['data'])})}\n\n"
            if rows:
                continue
            job = svc.store.get_job(job_id)
            if not follow or job is None or job.status in FINAL_STATES:
                yield f"event: end\ndata: {json.dumps({'status': job.status if job else None})}\n\n"
                return
            if await request.is_disconnected():
                return
            if time.monotonic() - beat > HEARTBEAT_S:
                beat = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream")


def _as_dict(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {"value": data}


@router.get("/v1/jobs/{job_id}/artifacts", response_model=list[Artifact],
            summary="files of the job: result.json, the round table state.json, score_by_round.png, logs")
async def list_artifacts(request: Request, job_id: str = JOB_ID, who: Principal = Depends(require("adapt"))) -> list[Artifact]:
    svc = request.app.state.services
    row = _own_job(svc, job_id, who)
    return [Artifact(name=n, bytes=p.stat().st_size) for n, p in sorted(svc.jobs.artifacts(row).items())]


@router.get("/v1/jobs/{job_id}/artifacts/{name}", response_class=FileResponse,
            responses={200: {"content": {m: {"schema": {"type": "string", "format": "binary"}}
                                         for m in ("application/json", "image/png", "text/plain")}}})
async def get_artifact(request: Request, job_id: str = JOB_ID, name: str = Path(max_length=64),
                       who: Principal = Depends(require("adapt"))) -> FileResponse:
    svc = request.app.state.services
    row = _own_job(svc, job_id, who)
    files = svc.jobs.artifacts(row)
    if name not in files:
        raise NotFound(f"job {job_id} has no artifact {name!r}; it has {sorted(files)}")
    media = {"png": "image/png", "json": "application/json"}.get(name.rsplit(".", 1)[-1], "text/plain")
    return FileResponse(files[name], media_type=media, filename=name)
