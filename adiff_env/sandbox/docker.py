"""DockerSandbox: a thread-safe warm pool of locked-down containers (the security boundary).

Every container: ``network_mode="none"``, read-only root, a size-capped tmpfs at ``/work``
(``noexec``), memory limit with swap equal to it (no swap), pids limit, CPU quota
(``nano_cpus``), user 1000:1000, all capabilities dropped, ``no-new-privileges``, and the
label ``org.adiff.sandbox.pool`` = ``host:pid:token`` of its owner. Two ways to run a job:

- ``mode="server"`` (default, fast): the harness runs as the container's PID 1
  (``harness.py serve``) on an attached stdin/stdout; each job is one JSON line with a fresh
  nonce, answered by one line echoing it. The harness forks a runner per job in a fresh
  work dir ``/work/r<nonce>``, kills it at the wall limit, then kills every other process of
  the sandbox user. The program cannot signal PID 1, and the server is non-dumpable (the
  program, same user, cannot open its pipes or trace it). No ``docker exec`` per run.
- ``mode="exec"``: ``sleep infinity`` is PID 1 and each job is a ``docker exec`` of the
  harness (source on the command line, job on stdin) under ``timeout -k 1 wall+1`` INSIDE
  the container, since a timed-out ``docker exec`` keeps running (moby#9098).

Either way the pool gives up on a job ``wall + 3`` s after it started (OUTSIDE), and a
container that timed out, ran out of memory, misbehaved (no, malformed or mismatched
report; harness error) or served ``max_runs`` runs is destroyed and replaced by a fresh one
on the next run. Containers are removed on :meth:`close`, at interpreter exit
(``weakref.finalize``), and those left by a crashed process on this host (owner pid gone)
on construction.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
import uuid
import weakref

from adiff_env.errors import UnknownNameError
from adiff_env.sandbox._stream import TIMED_OUT, FrameReader
from adiff_env.sandbox.base import ExecResult, Limits
from adiff_env.sandbox.image import DEFAULT_IMAGE, docker_client, image_exists
from adiff_env.sandbox.jobs import (
    build_job,
    check_program,
    check_tests,
    harness_source,
    parse_report,
    rejected_result,
    result_from_report,
)

POOL_LABEL = "org.adiff.sandbox.pool"
USER = "1000:1000"
OUTSIDE_GRACE_S = 3.0  # the pool gives up on an exec this long after the wall limit
MEMORY_HEADROOM_MB = 64  # container limit = limits.memory_mb + this (the harness itself)
EXTRA_PIDS = 8  # PID 1, timeout, the harness supervisor, on top of limits.pids
REPORT_CAP = 8 << 20
MODES = ("server", "exec")
__all__ = ["DockerSandbox", "DEFAULT_IMAGE", "POOL_LABEL", "container_config", "remove_leftovers"]


def container_config(limits: Limits, labels: dict[str, str]) -> dict:
    """Keyword arguments for ``client.containers.create``: the isolation every container gets."""
    memory = f"{limits.memory_mb + MEMORY_HEADROOM_MB}m"
    return dict(
        network_mode="none",
        read_only=True,
        tmpfs={"/work": f"rw,nosuid,nodev,noexec,size={limits.workdir_mb}m,mode=1777"},
        mem_limit=memory,
        memswap_limit=memory,
        pids_limit=limits.pids + EXTRA_PIDS,
        nano_cpus=int(limits.cpus * 1e9),
        user=USER,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        ipc_mode="private",
        working_dir="/work",
        environment={"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
        labels=labels,
        log_config={"type": "none"},
    )


def server_command() -> list[str]:
    """PID 1 of a server-mode container: the harness serving jobs on stdin."""
    return ["python3", "-I", "-c", harness_source(), "serve", "/work"]


def harness_command(limits: Limits, workdir: str) -> list[str]:
    """The exec-mode command: the harness under ``timeout -k 1`` with the wall limit + 1 s."""
    wall = f"{limits.wall_s + 1.0:.3f}"
    return ["timeout", "-k", "1", wall, "python3", "-I", "-c", harness_source(), workdir, "--kill-all"]


def remove_leftovers(client) -> int:
    """Remove pool containers whose owner process on this host is gone; return how many."""
    host = socket.gethostname()
    removed = 0
    for container in client.containers.list(all=True, filters={"label": POOL_LABEL}):
        owner_host, _, rest = container.labels.get(POOL_LABEL, "").partition(":")
        pid = rest.partition(":")[0]
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            _remove(container)
            removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except Exception:  # already gone, or the engine is going away at exit
        pass


def _cleanup(client, owner: str) -> None:
    """Remove every container of one pool (also runs at interpreter exit)."""
    try:
        for container in client.containers.list(all=True, filters={"label": f"{POOL_LABEL}={owner}"}):
            _remove(container)
    except Exception:
        pass


class _Slot:
    """One pool container; in server mode also its attached stream."""

    def __init__(self, container, sock=None) -> None:
        self.container, self.sock, self.runs = container, sock, 0
        self.reader = FrameReader(getattr(sock, "_sock", sock), REPORT_CAP) if sock is not None else None

    def destroy(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        _remove(self.container)


class DockerSandbox:
    """A warm pool of ``pool_size`` sandbox containers of ``image`` (see module docstring).

    ``limits``: the pool's limits. Container-level fields (``memory_mb``, ``pids``, ``cpus``,
    ``workdir_mb``) are fixed when a container starts, so a ``run`` may change only
    ``wall_s``, ``test_s``, ``output_bytes`` and ``program_bytes``. ``max_runs``: runs per
    container before it is replaced. ``mode``: ``"server"`` or ``"exec"`` (module docstring). Safe to share between threads; each run holds one
    container, waiting up to ``acquire_timeout_s`` for one.
    """

    def __init__(
        self, limits: Limits | None = None, *, pool_size: int = 2, image: str = DEFAULT_IMAGE,
        max_runs: int = 200, acquire_timeout_s: float = 120.0, mode: str = "server", client=None,
    ) -> None:
        if mode not in MODES:
            raise UnknownNameError("DockerSandbox mode", str(mode), MODES)
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}.")
        for name, value in (("pool_size", pool_size), ("max_runs", max_runs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DockerSandbox {name} must be an int >= 1, got {value!r}.")
        self.limits = limits or Limits()
        self.image, self.pool_size, self.max_runs, self.mode = image, pool_size, max_runs, mode
        self.acquire_timeout_s = acquire_timeout_s
        self.client = client or docker_client()
        if not image_exists(self.client, image):
            raise RuntimeError(f"Docker image {image!r} not found; build it with `adiff sandbox build` (or --offline).")
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.replaced = 0  # containers destroyed because of a timeout, OOM, misbehaviour or max_runs
        remove_leftovers(self.client)
        self._closed = False
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Slot | None] = queue.Queue()
        self._finalizer = weakref.finalize(self, _cleanup, self.client, self.owner)
        try:
            for _ in range(pool_size):
                self._idle.put(self._new_slot())
        except BaseException:
            self.close()
            raise

    # -- pool -------------------------------------------------------------------------
    def _new_slot(self) -> _Slot:
        config = container_config(self.limits, {POOL_LABEL: self.owner})
        if self.mode == "exec":
            container = self.client.containers.create(self.image, ["sleep", "infinity"], **config)
            container.start()
            return _Slot(container)
        container = self.client.containers.create(self.image, server_command(), stdin_open=True, **config)
        try:
            params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            sock = self.client.api.attach_socket(container.id, params=params)
            container.start()
        except BaseException:
            _remove(container)
            raise
        return _Slot(container, sock)

    def _acquire(self) -> _Slot:
        try:
            slot = self._idle.get(timeout=self.acquire_timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no sandbox container free after {self.acquire_timeout_s} s (pool_size={self.pool_size})") from None
        if slot is None:
            try:
                slot = self._new_slot()
            except BaseException:
                self._idle.put(None)
                raise
        return slot

    def _release(self, slot: _Slot, healthy: bool) -> None:
        slot.runs += 1
        if healthy and slot.runs < self.max_runs and not self._closed:
            self._idle.put(slot)
            return
        slot.destroy()
        with self._lock:
            self.replaced += 1
        self._idle.put(None)  # the next run starts a fresh container

    def containers(self) -> list:
        """The live containers of this pool (from the engine, by label)."""
        return self.client.containers.list(all=True, filters={"label": f"{POOL_LABEL}={self.owner}"})

    # -- runs -------------------------------------------------------------------------
    def run(self, program: str, tests: list[str], limits: Limits | None = None) -> ExecResult:
        """Run ``program`` then each test in a pool container; see the module docstring."""
        if self._closed:
            raise RuntimeError("DockerSandbox is closed; create a new one.")
        tests = check_tests(tests)
        limits = self._run_limits(limits)
        text, reason = check_program(program, limits)
        if reason is not None:
            return rejected_result(reason, len(tests))
        job = build_job(text, tests, limits)
        slot = self._acquire()
        healthy = False
        try:
            start = time.monotonic()
            if self.mode == "server":
                report, exit_code, error = self._serve(slot, job, limits)
            else:
                report, exit_code, error = self._exec(slot.container, job, limits)
            wall = time.monotonic() - start
            # timeout(1) exits 124 when it fired, 137 when it had to SIGKILL after -k
            timed_out = exit_code == 124 or (exit_code == 137 and wall >= limits.wall_s)
            result = result_from_report(report, len(tests), limits, wall_s=wall, error=error, timed_out=timed_out)
            healthy = report is not None and error is None and not result.timed_out and not result.oom
            return result
        finally:
            self._release(slot, healthy)

    def _run_limits(self, limits: Limits | None) -> Limits:
        if limits is None:
            return self.limits
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}.")
        fixed = ("memory_mb", "pids", "cpus", "workdir_mb")
        changed = [f"{n}={getattr(limits, n)!r} (pool: {getattr(self.limits, n)!r})" for n in fixed if getattr(limits, n) != getattr(self.limits, n)]
        if changed:
            raise ValueError(
                f"DockerSandbox.run cannot change container limits: {', '.join(changed)}. "
                "Create a DockerSandbox(limits=...) with them instead."
            )
        return limits

    def _serve(self, slot: _Slot, job: bytes, limits: Limits) -> tuple[dict | None, int | None, str | None]:
        """Send one job line to the PID 1 harness; return (report, exit code, error)."""
        nonce = uuid.uuid4().hex
        deadline = time.monotonic() + limits.wall_s + OUTSIDE_GRACE_S
        try:
            slot.reader.sock.sendall(b'{"nonce": "%s", "job": %s}\n' % (nonce.encode(), job))
            line, error = slot.reader.read_line(deadline)
        except OSError as exc:
            line, error = b"", f"lost the container stream ({type(exc).__name__}: {exc})"
        if error is not None:
            return None, 124 if error == TIMED_OUT else None, error
        try:
            reply = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, None, "the sandbox server sent a malformed reply (misbehaving)"
        if not isinstance(reply, dict) or reply.get("nonce") != nonce:
            return None, None, "the sandbox server answered another job (misbehaving)"
        if "error" in reply:
            return None, None, f"the sandbox harness failed: {str(reply['error'])[-500:]}"
        report = parse_report(json.dumps(reply.get("report")).encode())
        return report, 0, None if report is not None else "the sandbox harness sent no report"

    def _exec(self, container, job: bytes, limits: Limits) -> tuple[dict | None, int | None, str | None]:
        """Run the harness with docker exec; return (report, exit code, error)."""
        api = self.client.api
        workdir = f"/work/r{uuid.uuid4().hex}"
        import docker.errors

        try:
            exec_id = api.exec_create(container.id, harness_command(limits, workdir), stdin=True, user=USER, workdir="/work")["Id"]
            sock = api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as exc:  # e.g. the container died
            return None, None, f"docker exec failed ({exc.explanation or exc})"
        reader = FrameReader(getattr(sock, "_sock", sock), REPORT_CAP)
        deadline = time.monotonic() + limits.wall_s + OUTSIDE_GRACE_S
        try:
            reader.sock.sendall(job)
            reader.sock.shutdown(socket.SHUT_WR)
            data, error = reader.read_all(deadline)
        except OSError as exc:
            data, error = b"", f"lost the exec stream ({type(exc).__name__}: {exc})"
        finally:
            sock.close()
        if error is not None:
            return None, 124 if error == TIMED_OUT else None, error
        report = parse_report(data)
        if report is not None:  # the harness finished and printed its report
            return report, 0, None
        exit_code = api.exec_inspect(exec_id).get("ExitCode")
        return None, exit_code, f"the harness exited with {exit_code} without a report ({len(data)} bytes of output)"

    def close(self) -> None:
        """Remove every container of this pool; further runs raise. Idempotent."""
        self._closed = True
        while True:  # close the idle containers' streams; busy ones are destroyed on release
            try:
                slot = self._idle.get_nowait()
            except queue.Empty:
                break
            if slot is not None:
                slot.destroy()
        self._finalizer()

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
