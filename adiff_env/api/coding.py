"""/v1/code/generate and /v1/code/verdict: the coder checkpoint and the sandbox behind the routes.

Generation runs on the sampler thread (torch); verdicts run on their own pool of
``sandbox_pool`` threads against one Docker warm pool, through the public
``Sandbox.run(program, tests, limits) -> ExecResult`` only. A named task's tests stay hidden:
its verdict reports pass/fail and the error type per test, never the test text or messages.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any

from adiff_env.api.config import ServeConfig
from adiff_env.api.planning import FieldError, NotFound
from adiff_env.api.schemas import CodeGenerateRequest, SandboxLimits, VerdictRequest

OUTPUT_CAP = 4096  # characters of stdout / stderr returned


class SandboxUnavailable(RuntimeError):
    """The Docker engine or the warm pool failed under a request (answered 503 + Retry-After)."""


class Coders:
    """Coder checkpoints by spec, loaded on first use (on the sampler thread)."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._coders: dict[str, tuple[Any, Any]] = {}

    def load(self, spec: str) -> tuple[Any, Any]:
        hit = self._coders.get(spec)
        if hit is None:
            from adiff_env.code.coder import DEFAULT_MODEL, load_coder
            from adiff_env.errors import UnknownNameError
            from adiff_env.registry import CheckpointError

            try:
                hit = load_coder(DEFAULT_MODEL if spec == "default" else spec, self.config.device)
            except UnknownNameError as exc:
                raise NotFound(str(exc)) from None
            except CheckpointError as exc:
                raise FieldError(("body", "model"), str(exc)) from None
            self._coders[spec] = hit
        return hit

    def generate(self, req: CodeGenerateRequest, on_step: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Programs for ``req.prompt``; ``on_step(step, total)`` is called per denoising step."""
        import torch

        from adiff_env.code.coder import CoderActConfig, DiffusionCoder

        coder, checkpoint = self.load(req.model)
        act = dict(checkpoint.config.get("act", {}))
        act.update({k: v for k, v in (("samples", req.samples), ("steps", req.steps),
                                      ("temperature", req.temperature)) if v is not None})
        act["sandbox"] = None
        config = CoderActConfig.from_dict(act)
        clamps = self.config.clamps  # the checkpoint's own defaults are held to the server's caps too
        config = dataclasses.replace(config, samples=min(config.samples, clamps.max_code_samples),
                                     steps=min(config.steps, clamps.max_code_steps))
        tic = time.perf_counter()
        generator = torch.Generator().manual_seed(req.seed)
        if isinstance(coder, DiffusionCoder) and on_step is not None:  # the AR baseline has no steps
            programs, logps = coder.generate(req.prompt, config.samples, config, generator, on_step=on_step)
        else:
            programs, logps = coder.generate(req.prompt, config.samples, config, generator)
        return {"model": checkpoint.spec, "sample_ms": 1000 * (time.perf_counter() - tic),
                "programs": [{"program": p, "logp": float(s)} for p, s in zip(programs, logps, strict=True)]}


@functools.lru_cache(maxsize=8)
def _suite(spec: str) -> dict[str, Any]:
    from adiff_env.code.tasks.suites import load_tasks

    return {t.task_id: t for t in load_tasks(spec)}


class Verdicts:
    """The Docker sandbox (made at start-up when the config names one) and the verdict logic."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.sandbox: Any = None
        self.error: str | None = None if config.sandbox else "no sandbox configured (sandbox = \"docker\" turns it on)"

    def start(self) -> None:
        if not self.config.sandbox:
            return
        try:
            from adiff_env.sandbox import make_sandbox

            self.sandbox = make_sandbox(self.config.sandbox, pool_size=self.config.sandbox_pool)
        except Exception as exc:  # noqa: BLE001  (no engine, no image: the route reports it)
            self.error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def verdict(self, req: VerdictRequest) -> dict[str, Any]:
        from adiff_env.sandbox import Limits

        clamps = self.config.clamps
        if len(req.program) > clamps.max_program_chars:
            raise FieldError(("body", "program"), f"program length {len(req.program)} is above this server's cap of "
                             f"{clamps.max_program_chars}.")
        if req.tests is not None and len(req.tests) > clamps.max_tests:
            raise FieldError(("body", "tests"), f"{len(req.tests)} tests are above this server's cap of {clamps.max_tests}.")

        if req.task_id is not None:
            try:
                tasks = _suite(req.suite)
            except ValueError as exc:
                raise NotFound(str(exc)) from None
            task = tasks.get(req.task_id)
            if task is None:
                from adiff_env.errors import UnknownNameError

                raise NotFound(str(UnknownNameError(f"task of {req.suite}", req.task_id, list(tasks)[:20])))
            tests, setup, hidden = list(task.tests), task.setup, True
        else:
            tests, setup, hidden = list(req.tests), req.setup, False
        base = Limits()
        asked = req.limits or SandboxLimits()
        for name, cap in (("wall_s", clamps.max_sandbox_wall_s), ("memory_mb", clamps.max_sandbox_memory_mb)):
            value = getattr(asked, name)
            if value is not None and value > cap:
                raise FieldError(("body", "limits", name), f"limits.{name} = {value} is above this server's cap of {cap}.")
        wall = min(asked.wall_s or base.wall_s, clamps.max_sandbox_wall_s)
        memory = min(asked.memory_mb or base.memory_mb, clamps.max_sandbox_memory_mb)
        limits = Limits(wall_s=float(wall), memory_mb=int(memory), program_bytes=4 * clamps.max_program_chars)
        program = f"{setup}\n{req.program}" if setup else req.program
        try:
            result = self.sandbox.run(program, tests, limits)
        except (ValueError, TypeError) as exc:  # the sandbox refuses input before it runs (e.g. NUL bytes)
            where = "tests" if "tests[" in str(exc) else "program"
            raise FieldError(("body", where), str(exc)) from None
        except Exception as exc:  # noqa: BLE001  (the engine or the pool failed: not the request's fault)
            raise SandboxUnavailable(f"the sandbox failed: {type(exc).__name__}: {exc}") from exc
        total = result.tests_total or len(result.tests) or len(tests)
        outcomes = [{"index": t.index, "passed": bool(t.passed), "error_type": t.error_type,
                     "message": "" if hidden else t.message[:OUTPUT_CAP]} for t in result.tests]
        return {
            "tests": outcomes, "passed": int(result.passed), "total": int(total),
            "pass_rate": float(result.passed / total if total else 0.0),
            "all_passed": bool(total > 0 and result.passed == total), "compiled": bool(result.compiled),
            "timed_out": bool(result.timed_out), "oom": bool(result.oom), "rejected": result.rejected,
            "error": result.error, "wall_s": float(result.wall_s), "program_sha256": program_hash(req.program),
            "stdout": result.stdout[:OUTPUT_CAP], "stderr": result.stderr[:OUTPUT_CAP],
        }


def program_hash(program: str) -> str:
    return hashlib.sha256(program.encode("utf-8", "surrogatepass")).hexdigest()
