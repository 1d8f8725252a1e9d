"""Adaptation jobs: child processes supervised by one thread, their state and events in SQLite.

Life of a job: ``queued`` -> ``running`` (a child process, see :mod:`~adiff_env.api.commands`)
-> ``succeeded`` | ``failed`` (with the reason) | ``cancelled``. The supervisor thread starts
queued jobs (at most ``max_running_jobs``), turns the child's progress into events (evolve:
each new row of ``state.json``; train: step and loss from its progress bar) and records the
result. Children die with the server (``PR_SET_PDEATHSIG``, their own process group); on
start-up :meth:`JobManager.recover` finds jobs left ``running`` by a crashed server: a
resumable one (evolve, train) is queued again and continues from its last finished round or
checkpoint (``--resume``), up to ``job_restarts`` times; any other is marked failed with the reason.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adiff_env.api.commands import RESUMABLE, artifact_paths, can_resume, job_argv
from adiff_env.api.config import ServeConfig
from adiff_env.api.store import FINAL_STATES, JobRow, Store

TICK_S = 0.2
KILL_GRACE_S = 5.0
PROGRESS_EVERY_S = 1.0
_BAR = re.compile(r"(\d+)/(\d+) .*?loss=([-+0-9.eE]+|nan)")


class JobConflict(ValueError):
    """An ``Idempotency-Key`` reused with a different request body."""


class JobQueueFull(Exception):
    pass


def _death_signal() -> Any:
    """A ``preexec_fn`` that makes the child get SIGKILL when the server dies (Linux
    ``PR_SET_PDEATHSIG``; the libc symbol is looked up here, in the parent, not after fork).
    None elsewhere: :meth:`JobManager.recover` kills leftovers instead."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


@dataclass
class _Run:
    job_id: str
    kind: str
    proc: subprocess.Popen
    workdir: Path
    offsets: dict[str, int] = field(default_factory=dict)
    rounds_seen: int = 0
    last_progress: float = 0.0
    kill_at: float | None = None
    partial: str = ""


class JobManager:
    """See the module docstring. ``start()`` runs :meth:`recover` then the supervisor thread."""

    def __init__(self, store: Store, config: ServeConfig) -> None:
        self.store, self.config = store, config
        self.jobs_dir = config.home_path / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, _Run] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._preexec = _death_signal()

    # -- requests (event loop) --------------------------------------------------------
    def submit(self, params: dict[str, Any], key_id: str | None, idempotency_key: str | None) -> tuple[JobRow, bool]:
        """Queue a job; returns ``(row, created)`` (``created`` False: an idempotent replay)."""
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        if idempotency_key is not None:
            old = self.store.job_by_idempotency(key_id, idempotency_key)
            if old is not None:
                if old.request_hash != digest:
                    raise JobConflict("this Idempotency-Key was used with a different request body; use a new key.")
                return old, False
        if self.store.count_jobs(("queued",)) >= self.config.job_queue_cap:
            raise JobQueueFull()
        job_id = uuid.uuid4().hex[:16]
        workdir = self.jobs_dir / job_id
        row = {"id": job_id, "kind": params["kind"], "params": params, "status": "queued", "key_id": key_id,
               "idempotency_key": idempotency_key, "request_hash": digest, "created_at": time.time(),
               "workdir": str(workdir)}
        import sqlite3

        try:
            self.store.insert_job(row)
        except sqlite3.IntegrityError:  # the same key raced in at once: answer with the winner
            old = self.store.job_by_idempotency(key_id, idempotency_key)
            if old is None or old.request_hash != digest:
                raise JobConflict("this Idempotency-Key was used with a different request body; use a new key.") from None
            return old, False
        self.store.add_event(job_id, "queued", {"kind": params["kind"]})
        self._wake.set()
        return self.store.get_job(job_id), True

    def cancel(self, job_id: str) -> JobRow | None:
        row = self.store.get_job(job_id)
        if row is None or row.status in FINAL_STATES:
            return row
        self.store.update_job(job_id, cancel_requested=1)
        if row.status == "queued":
            self.store.update_job(job_id, status="cancelled", finished_at=time.time())
            self.store.add_event(job_id, "cancelled", {"while": "queued"})
        self._wake.set()
        return self.store.get_job(job_id)

    def artifacts(self, row: JobRow) -> dict[str, Path]:
        base = Path(row.workdir)
        return {name: base / rel for name, rel in artifact_paths(row.kind).items() if (base / rel).is_file()}

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="adiff-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop supervising and kill the children; their jobs stay ``running`` for :meth:`recover`."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for run in list(self._runs.values()):
            _kill_group(run.proc.pid, signal.SIGKILL)
            run.proc.wait(timeout=10)

    def recover(self) -> None:
        """Jobs a previous server left ``running``: requeue the resumable ones, fail the rest."""
        for row in self.store.jobs(("running",), limit=10_000):
            _kill_leftover(row)
            launches = 1 + self.config.job_restarts
            if row.cancel_requested:
                self.store.update_job(row.id, status="cancelled", pid=None, finished_at=time.time())
                self.store.add_event(row.id, "cancelled", {"while": "the server was down"})
            elif row.kind in RESUMABLE and row.attempts < launches:
                self.store.update_job(row.id, status="queued", pid=None)
                self.store.add_event(row.id, "interrupted", {"reason": "the server stopped while the job ran",
                                                             "resume": True, "attempts": row.attempts})
            else:
                why = (f"{row.kind} jobs do not resume; submit it again" if row.kind not in RESUMABLE
                       else f"interrupted {row.attempts} times (job_restarts = {self.config.job_restarts})")
                reason = f"the server stopped while the job ran ({why})."
                self.store.update_job(row.id, status="failed", pid=None, error=reason, finished_at=time.time())
                self.store.add_event(row.id, "failed", {"reason": reason})

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001  (a bad tick must not end supervision)
                print(f"adiff serve: job supervisor error: {type(exc).__name__}: {exc}", flush=True)
            self._wake.wait(TICK_S)
            self._wake.clear()

    def _tick(self) -> None:
        for run in list(self._runs.values()):
            self._pump(run)
            row = self.store.get_job(run.job_id)
            rc = run.proc.poll()
            if rc is None and row is not None and row.cancel_requested:
                if run.kill_at is None:
                    _kill_group(run.proc.pid, signal.SIGTERM)
                    run.kill_at = time.monotonic() + KILL_GRACE_S
                elif time.monotonic() > run.kill_at:
                    _kill_group(run.proc.pid, signal.SIGKILL)
            if rc is not None:
                self._finish(run, rc, row)
        while len(self._runs) < self.config.max_running_jobs and not self._stop.is_set():
            queued = self.store.jobs(("queued",), limit=1)
            if not queued:
                break
            self._launch(queued[0])

    def _launch(self, row: JobRow) -> None:
        workdir = Path(row.workdir)
        run_dir = workdir / "run"
        workdir.mkdir(parents=True, exist_ok=True)
        resume = row.kind in RESUMABLE and can_resume(row.kind, run_dir)
        preset = self.preset_path(row.params["preset"]) if row.kind == "train" else None
        argv = job_argv(row.kind, row.params, run_dir, resume=resume, preset_path=preset)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(workdir / "stdout.log", "ab") as out, open(workdir / "stderr.log", "ab") as err:
            offsets = {"stdout.log": out.tell(), "stderr.log": err.tell()}
            proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir, env=env,
                                    start_new_session=True, preexec_fn=self._preexec)
        rounds = sum(1 for e in self.store.events(row.id, limit=100_000) if e["type"] == "round")
        self._runs[row.id] = _Run(row.id, row.kind, proc, workdir, offsets, rounds_seen=rounds)
        self.store.update_job(row.id, status="running", pid=proc.pid, attempts=row.attempts + 1,
                              started_at=row.started_at or time.time())
        self.store.add_event(row.id, "started", {"attempt": row.attempts + 1, "resume": resume,
                                                 "command": argv[5:]})

    def preset_path(self, name: str) -> str:
        """A preset name -> its TOML in ``preset_dirs`` or the shipped ``planners/`` (else ValueError)."""
        from adiff_env.assets import asset_root

        for folder in (*self.config.preset_dirs, str(asset_root("planners"))):
            path = Path(folder).expanduser() / f"{name}.toml"
            if path.is_file():
                return str(path)
        from adiff_env.errors import UnknownNameError
        from adiff_env.planners.preset import preset_names

        extra = [p.stem for d in self.config.preset_dirs for p in Path(d).expanduser().glob("*.toml")]
        raise UnknownNameError("planner preset", name, [*preset_names(), *extra])

    # -- progress -----------------------------------------------------------------------
    def _read_new(self, run: _Run, name: str) -> str:
        path = run.workdir / name
        try:
            with open(path, "rb") as fh:
                fh.seek(run.offsets.get(name, 0))
                data = fh.read()
                run.offsets[name] = fh.tell()
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", "replace")

    def _pump(self, run: _Run, final: bool = False) -> None:
        if run.kind == "evolve":
            state = _read_json(run.workdir / "run" / "state.json")
            rows = (state or {}).get("rounds", [])
            for record in rows[run.rounds_seen:]:
                self.store.add_event(run.job_id, "round", record)
            run.rounds_seen = max(run.rounds_seen, len(rows))
        elif run.kind == "train":
            text = run.partial + self._read_new(run, "stderr.log")
            pieces = re.split(r"[\r\n]", text)
            run.partial = pieces.pop() if not final else ""
            matches = [m for m in map(_BAR.search, pieces + ([run.partial] if final else [])) if m]
            now = time.monotonic()
            if matches and (final or now - run.last_progress >= PROGRESS_EVERY_S):
                m = matches[-1]
                run.last_progress = now
                loss = float(m.group(3))
                self.store.add_event(run.job_id, "progress", {"step": int(m.group(1)), "total": int(m.group(2)),
                                                              "loss": None if loss != loss else loss})

    def _finish(self, run: _Run, rc: int, row: JobRow | None) -> None:
        self._pump(run, final=True)
        del self._runs[run.job_id]
        now = time.time()
        if row is not None and row.cancel_requested:
            self.store.update_job(run.job_id, status="cancelled", pid=None, finished_at=now)
            self.store.add_event(run.job_id, "cancelled", {"exit_code": rc})
        elif rc == 0:
            result = self._result(run)
            _atomic_json(run.workdir / "result.json", result)
            self.store.update_job(run.job_id, status="succeeded", pid=None, finished_at=now, result=result)
            self.store.add_event(run.job_id, "succeeded", result)
        else:
            tail = _tail(run.workdir / "stderr.log")
            reason = f"exit code {rc}" + (f": {tail}" if tail else "")
            self.store.update_job(run.job_id, status="failed", pid=None, finished_at=now, error=reason)
            self.store.add_event(run.job_id, "failed", {"exit_code": rc, "reason": reason})

    def _result(self, run: _Run) -> dict[str, Any]:
        out = (run.workdir / "stdout.log").read_text("utf-8", "replace")
        if run.kind == "evaluate":
            for line in reversed(out.splitlines()):
                if line.startswith("{"):
                    try:
                        return json.loads(line)
                    except json.JSONDecodeError:
                        break
            return {"stdout": out[-2000:]}
        if run.kind == "evolve":
            state = _read_json(run.workdir / "run" / "state.json") or {}
            return {"registered": state.get("current"), "baseline": state.get("baseline"),
                    "best_score": state.get("best_score"), "rounds": len(state.get("rounds", []))}
        found = re.findall(r"^registered (\S+) at ", out, flags=re.M)
        return {"registered": found[-1] if found else None}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return ""
    lines = [ln for ln in re.split(r"[\r\n]", text) if ln.strip()]
    return "\n".join(lines[-8:])[-chars:]


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_leftover(row: JobRow) -> None:
    """Kill a child a crashed server left behind (only if it runs in the job's folder)."""
    if not row.pid:
        return
    try:
        cwd = os.readlink(f"/proc/{row.pid}/cwd")
    except OSError:
        return
    if Path(cwd) == Path(row.workdir):
        _kill_group(row.pid, signal.SIGKILL)
