"""Generation API: ``POST /v1/plan``, ``POST /v1/code/generate``, ``POST /v1/code/verdict``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from adiff_env.api.coding import program_hash
from adiff_env.api.edge import require
from adiff_env.api.planning import FieldError, PlanItem, PlanKey, check_env_id
from adiff_env.api.schemas import (
    CodeGenerateRequest,
    CodeGenerateResponse,
    ErrorBody,
    PlanRequest,
    PlanResponse,
    VerdictRequest,
    VerdictResponse,
)

ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (401, 403, 404, 413, 422, 429)}
router = APIRouter(tags=["generation"], responses=ERRORS)
SSE = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def _clamp(value: int | None, cap: int, loc: str) -> None:
    if value is not None and value > cap:
        what = f"{loc} length {value}" if loc == "prompt" else f"{loc} = {value}"
        raise FieldError(("body", loc), f"{what} is above this server's cap of {cap}.")


@router.post("/v1/plan", response_model=PlanResponse, summary="plan and act (dynamically batched)")
async def plan(req: PlanRequest, request: Request, _: Any = Depends(require("generate"))) -> PlanResponse:
    svc = request.app.state.services
    tic = time.perf_counter()
    svc.batcher.check_capacity()  # a full queue answers 429 before any other work
    if req.reward:
        raise FieldError(("body", "reward"), "reward-guided planning over HTTP is not supported yet; leave 'reward' out.")
    _clamp(req.steps, svc.config.clamps.max_sampler_steps, "steps")
    _clamp(req.candidates, svc.config.clamps.max_candidates, "candidates")
    check_env_id(req.env_id)
    pinned = svc.planners.cached_pin(req.model) or await anyio.to_thread.run_sync(svc.planners.pin, req.model)
    key = PlanKey(pinned, req.env_id, req.sampler, req.steps, req.candidates, req.seed)
    svc.metrics.plan_queue.set(svc.batcher.pending)
    result, info = await svc.batcher.submit(key, PlanItem(list(req.observation), list(req.goal)))
    if isinstance(result, Exception):
        raise result
    svc.metrics.batch_size.observe(info.size)
    return PlanResponse(
        model=result.model, action=result.action, steps_left=result.steps_left,
        plan=result.plan.tolist() if req.return_plan else None,
        timings={"queue_ms": info.queue_ms, "sample_ms": info.run_ms, "batch_size": info.size,
                 "total_ms": 1000 * (time.perf_counter() - tic)},
    )


@router.post("/v1/code/generate", response_model=CodeGenerateResponse, responses=SSE,
             summary="programs for a task prompt (optionally streamed per denoising step)")
async def code_generate(req: CodeGenerateRequest, request: Request, _: Any = Depends(require("generate"))) -> Any:
    svc = request.app.state.services
    _clamp(len(req.prompt), svc.config.clamps.max_prompt_chars, "prompt")
    _clamp(req.samples, svc.config.clamps.max_code_samples, "samples")
    _clamp(req.steps, svc.config.clamps.max_code_steps, "steps")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(svc.sampler, svc.coders.load, req.model)  # unknown model: 404 before any stream
    if not req.stream:
        return await loop.run_in_executor(svc.sampler, svc.coders.generate, req)
    events: asyncio.Queue = asyncio.Queue()

    def on_step(step: int, total: int) -> None:
        loop.call_soon_threadsafe(events.put_nowait, ("step", {"step": step, "total": total}))

    def work() -> None:
        try:
            out = svc.coders.generate(req, on_step)
            loop.call_soon_threadsafe(events.put_nowait, ("result", out))
        except Exception as exc:  # noqa: BLE001  (reported as an SSE error event)
            loop.call_soon_threadsafe(events.put_nowait, ("error", {"detail": str(exc)}))

    loop.run_in_executor(svc.sampler, work)

    async def stream():
        while True:
            kind, data = await events.get()
            yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
            if kind in ("result", "error"):
                return

    return StreamingResponse(stream(), media_type="text/event-stream")


@router.post("/v1/code/verdict", response_model=VerdictResponse,
             responses={503: {"model": ErrorBody, "description": "no Docker sandbox configured or reachable"}},
             summary="run a program against tests in the Docker sandbox")
async def code_verdict(req: VerdictRequest, request: Request, _: Any = Depends(require("verdict"))) -> Any:
    svc = request.app.state.services
    request.state.audit_detail = {"program_sha256": program_hash(req.program)}
    if svc.verdicts.sandbox is None:
        raise HTTPException(503, f"the verdict route is off: {svc.verdicts.error}")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(svc.sandbox_pool, svc.verdicts.verdict, req)
