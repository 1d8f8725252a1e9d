"""DockerSandbox: a thread-safe warm pool of locked-down containers (the security boundary).

Every container: ``network_mode="none"``, read-only root, a size-capped tmpfs at ``/work``
(``noexec``), memory limit with swap equal to it (no swap), pids limit, CPU quota
(``nano_cpus``), user 1000:1000, all capabilities dropped, ``no-new-privileges``, and the
label ``org.adiff.sandbox.pool`` = ``host:pid:token`` of its owner. ``sleep infinity`` is
PID 1. A run takes an idle container, ``exec``\\ s the harness (its source passed on the
command line, the job on stdin) in a fresh work dir ``/work/r<uuid>`` under
``timeout -k 1 wall+1`` INSIDE the container (a timed-out ``docker exec`` keeps running:
moby#9098), reads the report with a deadline of ``wall + 3`` s OUTSIDE, and gives the
container back. After the report the harness kills every process of the sandbox user but
PID 1. A container that timed out, ran out of memory, misbehaved (no or malformed report)
or served ``max_runs`` runs is destroyed and replaced by a fresh one on the next run.

Containers are removed on :meth:`close`, at interpreter exit (``weakref.finalize``), and
containers left by a crashed process on this host (owner pid gone) on construction.
"""

from __future__ import annotations

import os
import queue
import socket
import struct
import threading
import time
import uuid
import weakref

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
        detach=True,
    )


def harness_command(limits: Limits, workdir: str) -> list[str]:
    """The exec command: the harness under ``timeout -k 1`` with the wall limit + 1 s."""
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
    def __init__(self, container) -> None:
        self.container = container
        self.runs = 0


class DockerSandbox:
    """A warm pool of ``pool_size`` sandbox containers of ``image`` (see module docstring).

    ``limits``: the pool's limits. Container-level fields (``memory_mb``, ``pids``, ``cpus``,
    ``workdir_mb``) are fixed when a container starts, so a ``run`` may change only
    ``wall_s``, ``test_s``, ``output_bytes`` and ``program_bytes``. ``max_runs``: runs per
    container before it is replaced. Safe to share between threads; each run holds one
    container, waiting up to ``acquire_timeout_s`` for one.
    """

    def __init__(
        self, limits: Limits | None = None, *, pool_size: int = 2, image: str = DEFAULT_IMAGE,
        max_runs: int = 200, acquire_timeout_s: float = 120.0, client=None,
    ) -> None:
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}.")
        for name, value in (("pool_size", pool_size), ("max_runs", max_runs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DockerSandbox {name} must be an int >= 1, got {value!r}.")
        self.limits = limits or Limits()
        self.image, self.pool_size, self.max_runs = image, pool_size, max_runs
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
        container = self.client.containers.run(self.image, ["sleep", "infinity"], **config)
        return _Slot(container)

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
        _remove(slot.container)
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
            raw, exit_code, error = self._exec(slot.container, job, limits)
            wall = time.monotonic() - start
            report = parse_report(raw) if error is None else None
            if report is None and error is None:
                error = f"the harness exited with {exit_code} without a report ({len(raw)} bytes of output)"
            # timeout(1) exits 124 when it fired, 137 when it had to SIGKILL after -k
            timed_out = exit_code == 124 or (exit_code == 137 and wall >= limits.wall_s)
            result = result_from_report(report, len(tests), limits, wall_s=wall, error=error, timed_out=timed_out)
            healthy = report is not None and not result.timed_out and not result.oom
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

    def _exec(self, container, job: bytes, limits: Limits) -> tuple[bytes, int | None, str | None]:
        """Run the harness; return (stdout, exit code, error). Error set = container is suspect."""
        api = self.client.api
        workdir = f"/work/r{uuid.uuid4().hex}"
        exec_id = api.exec_create(container.id, harness_command(limits, workdir), stdin=True, user=USER, workdir="/work")["Id"]
        sock = api.exec_start(exec_id, socket=True)
        raw_sock = getattr(sock, "_sock", sock)
        deadline = time.monotonic() + limits.wall_s + OUTSIDE_GRACE_S
        try:
            raw_sock.sendall(job)
            raw_sock.shutdown(socket.SHUT_WR)
            data, error = _read_until_eof(raw_sock, deadline, REPORT_CAP)
        except OSError as exc:
            data, error = b"", f"lost the exec stream ({type(exc).__name__}: {exc})"
        finally:
            sock.close()
        if error is not None:
            return b"", 124 if "wall limit" in error else None, error
        stdout = _demux_stdout(data)
        if stdout.endswith(b"}"):  # a report: the harness finished (parse_report checks it)
            return stdout, 0, None
        return stdout, api.exec_inspect(exec_id).get("ExitCode"), None

    def close(self) -> None:
        """Remove every container of this pool; further runs raise. Idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_until_eof(sock, deadline: float, cap: int) -> tuple[bytes, str | None]:
    chunks, size = [], 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"", "the exec ran past the wall limit (timed out outside the container)"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            return b"", "the exec ran past the wall limit (timed out outside the container)"
        if not chunk:
            return b"".join(chunks), None
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"", f"the harness wrote more than {cap} bytes (misbehaving)"


def _demux_stdout(data: bytes) -> bytes:
    """Keep the stdout frames of a multiplexed (non-TTY) docker attach stream."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        stream, length = struct.unpack(">BxxxL", data[pos : pos + 8])
        if stream == 1:
            out.append(data[pos + 8 : pos + 8 + length])
        pos += 8 + length
    return b"".join(out)
