"""The FastAPI app: ``create_app(config)`` wires the store, admission, batcher, jobs and routes.

Importing this module imports FastAPI but not torch: models load on first use, on the single
sampler thread. Start it with ``adiff serve`` (uvicorn on 127.0.0.1:8000 by default).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adiff_env import __version__
from adiff_env.api.batcher import DynamicBatcher, QueueFull
from adiff_env.api.coding import Coders, SandboxUnavailable, Verdicts
from adiff_env.api.config import ServeConfig
from adiff_env.api.edge import Edge, Metrics
from adiff_env.api.jobs import JobConflict, JobManager, JobQueueFull
from adiff_env.api.planning import FieldError, NotFound, PlannerPool
from adiff_env.api.security import Admission, KeyVerifier, retry_after_header
from adiff_env.api.store import AuditWriter, Store
from adiff_env.api.worker import SamplerProcess

TITLE = "adiff-env service"


@dataclass
class Services:
    """Everything the routes share (one per app; no module-level state)."""

    config: ServeConfig
    store: Store
    audit: AuditWriter
    verifier: KeyVerifier
    admission: Admission
    metrics: Metrics
    planners: PlannerPool
    coders: Coders
    verdicts: Verdicts
    jobs: JobManager
    sampler: ThreadPoolExecutor
    sandbox_pool: ThreadPoolExecutor
    batcher: DynamicBatcher
    sampler_process: SamplerProcess
    routes: list[Any] = field(default_factory=list)


def build_services(config: ServeConfig) -> Services:
    store = Store(config.db_path)
    sampler = ThreadPoolExecutor(1, thread_name_prefix="adiff-sampler")  # torch calls never overlap
    planners = PlannerPool(config)
    process = SamplerProcess(config)
    return Services(
        config=config, store=store, audit=AuditWriter(store), verifier=KeyVerifier(store),
        admission=Admission(config.limits), metrics=Metrics(), planners=planners, coders=Coders(config),
        verdicts=Verdicts(config), jobs=JobManager(store, config), sampler=sampler,
        sandbox_pool=ThreadPoolExecutor(config.sandbox_pool, thread_name_prefix="adiff-sandbox"),
        batcher=DynamicBatcher(process.run_batch, sampler, config.limits), sampler_process=process,
    )


def create_app(config: ServeConfig | None = None, *, start_background: bool = True) -> FastAPI:
    """The app. ``start_background=False`` skips the job supervisor and sandbox (OpenAPI export)."""
    from adiff_env.api import routes_control, routes_generate, routes_jobs

    config = config or ServeConfig()
    services = build_services(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_background:
            import asyncio

            services.jobs.start()
            await asyncio.get_running_loop().run_in_executor(services.sandbox_pool, services.verdicts.start)
        try:
            yield
        finally:
            await services.batcher.close()
            services.jobs.stop()
            services.verdicts.close()
            services.sampler.shutdown(wait=False, cancel_futures=True)
            services.sampler_process.close()
            services.sandbox_pool.shutdown(wait=False, cancel_futures=True)
            services.audit.close()

    app = FastAPI(title=TITLE, version=__version__, lifespan=lifespan,
                  description="Generation, adaptation and control APIs of adiff-env (see docs/service.md).")
    app.state.services = services
    for module in (routes_generate, routes_jobs, routes_control):
        app.include_router(module.router)
    # flat route list for the audit's route templates (FastAPI nests included routers)
    services.routes = [r for r in app.router.routes if hasattr(r, "path")] + [
        r for m in (routes_generate, routes_jobs, routes_control) for r in m.router.routes]
    _error_handlers(app)
    app.add_middleware(Edge, services=services)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FieldError)
    async def _field(request: Request, exc: FieldError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": list(exc.loc), "msg": exc.msg, "type": "value_error"}]}, 422)

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    @app.exception_handler(QueueFull)
    async def _full(request: Request, exc: QueueFull) -> JSONResponse:
        request.app.state.services.metrics.rejected.labels("plan-queue").inc()
        return JSONResponse({"detail": str(exc)}, 429, headers={"Retry-After": retry_after_header(exc.retry_after_s)})

    @app.exception_handler(JobQueueFull)
    async def _jobs_full(request: Request, exc: JobQueueFull) -> JSONResponse:
        cap = request.app.state.services.config.job_queue_cap
        return JSONResponse({"detail": f"{cap} jobs are queued already; retry later"}, 429, headers={"Retry-After": "30"})

    @app.exception_handler(SandboxUnavailable)
    async def _sandbox(request: Request, exc: SandboxUnavailable) -> JSONResponse:
        print(f"adiff serve: {exc}", flush=True)
        return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": "5"})

    @app.exception_handler(JobConflict)
    async def _conflict(request: Request, exc: JobConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 409)
