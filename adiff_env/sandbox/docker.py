"""DockerSandbox: a thread-safe warm pool of locked-down containers (the security boundary).

Every container: ``network_mode="none"``, read-only root, a size-capped tmpfs at ``/work``
(``noexec``), memory limit with swap equal to it (no swap), pids limit, CPU quota
(``nano_cpus``), user 1000:1000, all capabilities dropped, ``no-new-privileges``, and the
label ``org.adiff.sandbox.pool`` = ``host:pid:token`` of its owner. The image holds python3
and nothing of this project: no tests, expected values, solutions, packages or datasets.

Verdicts are trusted (:mod:`adiff_env.sandbox.judge`): the container only runs the program-side
runner (``adiff_env/sandbox/runner/runner.py``), which loads the program and answers calls
with plain data; the tests, their expected values and every comparison stay in this process,
outside the container, as another user (the container runs as 1000, in its own PID namespace).
Two ways to start a runner:

- ``mode="server"`` (default, fast): the runner script is the container's PID 1 (``serve``) on
  an attached stdin/stdout. Per run the pool sends ``start`` with a fresh secret token; PID 1
  (already forked the next runner, so no runner holds the token) lets the runner go in a fresh
  work dir, and when it exits kills every other process of the sandbox user and answers
  ``ended`` with the token. The program cannot signal PID 1, which is not dumpable.
- ``mode="exec"``: ``sleep infinity`` is PID 1 and each run is a ``docker exec`` of the runner;
  afterwards a second exec kills every process of the sandbox user but PID 1.

Deadlines are the judge's, from here: at a deadline, on a protocol violation, or when the
program's process dies, the container is killed and removed at once (never reused), and any
later test of the run gets a fresh container. A container that timed out, ran out of memory,
misbehaved or served ``max_runs`` runs is destroyed and replaced by a fresh one on the next
run. Containers are removed on :meth:`close`, at interpreter exit (``weakref.finalize``), and
those left by a crashed process on this host (owner pid gone) on construction.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import secrets
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Collection

from adiff_env.errors import UnknownNameError
from adiff_env.sandbox._stream import DockerStream
from adiff_env.sandbox.base import ExecResult, Limits
from adiff_env.sandbox.codec import frame
from adiff_env.sandbox.image import DEFAULT_IMAGE, docker_client, image_exists
from adiff_env.sandbox.jobs import check_fallback, check_program, check_tests, rejected_result, runner_source
from adiff_env.sandbox.judge import judge
from adiff_env.sandbox.session import Session

POOL_LABEL = "org.adiff.sandbox.pool"
USER = "1000:1000"
MEMORY_HEADROOM_MB = 64  # container limit = limits.memory_mb + this (PID 1 and the runner)
EXTRA_PIDS = 8  # PID 1, the runner's threads, on top of limits.pids
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
    """PID 1 of a server-mode container: the runner script serving runs on stdin/stdout."""
    return ["python3", "-I", "-c", runner_source(), "serve", "/work"]


def runner_command(workdir: str) -> list[str]:
    """The exec-mode command: one runner on the exec's stdin/stdout."""
    return ["python3", "-I", "-c", runner_source(), "run", workdir]


def cleanup_command() -> list[str]:
    """Exec mode, after a run: kill every process of the sandbox user but PID 1."""
    return ["python3", "-I", "-c", runner_source(), "cleanup"]


def remove_leftovers(client) -> int:
    """Remove pool containers whose owner process on this host is gone; return how many."""
    host = socket.gethostname()
    removed = 0
    # summaries (no inspect per container): other pools may remove theirs while we list
    for summary in client.api.containers(all=True, filters={"label": POOL_LABEL}):
        owner_host, _, rest = (summary.get("Labels") or {}).get(POOL_LABEL, "").partition(":")
        pid = rest.partition(":")[0]
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            _remove_id(client, summary["Id"])
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


def _remove_id(client, container_id: str) -> None:
    try:
        client.api.remove_container(container_id, force=True)
    except Exception:  # already gone, or the engine is going away at exit
        pass


def _cleanup(client, owner: str) -> None:
    """Remove every container of one pool (also runs at interpreter exit)."""
    try:
        summaries = client.api.containers(all=True, filters={"label": f"{POOL_LABEL}={owner}"})
    except Exception:  # the engine is going away at exit
        return
    for summary in summaries:
        _remove_id(client, summary["Id"])


class _Slot:
    """One pool container; in server mode also its attached stream."""

    def __init__(self, container, sock=None) -> None:
        self.container, self.runs = container, 0
        self.stream = DockerStream(sock) if sock is not None else None
        self.dead = False

    def destroy(self) -> None:
        self.dead = True
        if self.stream is not None:
            self.stream.close()
        _remove(self.container)


class _Transport:
    """A runner in a container: ``kill`` removes the whole container at once."""

    def __init__(self, slot: _Slot, stream: DockerStream) -> None:
        self.slot, self.stream = slot, stream

    def write(self, data: bytes, deadline: float) -> bool:
        return self.stream.write(data, deadline)

    def read(self, timeout: float) -> bytes | None:
        return self.stream.read(timeout)

    def kill(self) -> None:
        if not self.slot.dead:
            self.slot.destroy()

    def diagnostics(self) -> str:
        return self.stream.stderr_tail()


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
        self._threads: list[threading.Thread] = []
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
            thread = threading.Thread(target=self._replenish, daemon=True)  # a fresh one, in the background
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _replenish(self) -> None:
        slot = None
        try:
            if not self._closed:
                slot = self._new_slot()
        except Exception:  # noqa: BLE001 - the next run tries again (and raises there)
            slot = None
        if slot is not None and self._closed:
            slot.destroy()
            slot = None
        self._idle.put(slot)

    def _spare_slot(self) -> _Slot:
        """A container for a run's next runner: an idle one if there is one, else a new one."""
        try:
            slot = self._idle.get_nowait()
        except queue.Empty:
            return self._new_slot()
        if slot is None:
            return self._new_slot()
        with self._lock:  # the pool gets a fresh one for it in the background
            thread = threading.Thread(target=self._replenish, daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return slot

    def containers(self) -> list:
        """The live containers of this pool (from the engine, by label); one removed while
        listing (a replaced container) is left out."""
        import docker.errors

        out = []
        for summary in self.client.api.containers(all=True, filters={"label": f"{POOL_LABEL}={self.owner}"}):
            try:
                out.append(self.client.containers.get(summary["Id"]))
            except docker.errors.NotFound:
                continue
        return out

    # -- runs -------------------------------------------------------------------------
    def run(self, program: str, tests: list[str], limits: Limits | None = None, *, setup: str = "",
            entry_point: str | None = None, fallback: Collection[int] = ()) -> ExecResult:
        """Judge ``program`` on ``tests`` with a pool container; see the module docstring and
        :class:`~adiff_env.sandbox.base.Sandbox`."""
        if self._closed:
            raise RuntimeError("DockerSandbox is closed; create a new one.")
        tests = check_tests(tests)
        fallback = check_fallback(fallback, len(tests))
        limits = self._run_limits(limits)
        text, reason = check_program(program, limits)
        if reason is not None:
            return rejected_result(reason, len(tests))
        slots = [self._acquire()]
        streams: list[DockerStream] = []
        sessions: list[Session] = []

        def open_session() -> Session:
            # a fresh container after a timeout or violation (killed), or in exec mode; in server
            # mode a runner that exited (PID 1 cleaned up and said so) is followed in place
            reuse = not sessions or (self.mode == "server" and sessions[-1].ended and not slots[-1].dead)
            if not reuse:
                if not slots[-1].dead:
                    slots[-1].destroy()
                with self._lock:
                    self.replaced += 1
                slots.append(self._spare_slot())
            slot = slots[-1]
            if self.mode == "server":
                token = secrets.token_hex(16)
                streams.append(slot.stream)  # type: ignore[arg-type]
                slot.stream.write(frame({"op": "start", "token": token}), time.monotonic() + 30)  # type: ignore[union-attr]
                sessions.append(Session(_Transport(slot, slot.stream), output_cap=limits.output_bytes, token=token))  # type: ignore[arg-type]
            else:
                stream = self._exec_stream(slot)
                streams.append(stream)
                sessions.append(Session(_Transport(slot, stream), output_cap=limits.output_bytes))
            return sessions[-1]

        healthy = False
        try:
            result, sessions = judge(text, tests, limits, open_session, setup=setup, entry_point=entry_point,
                                     fallback=fallback)
            last = sessions[-1]
            healthy = last.clean and not last.oom and not result.timed_out and not result.oom and not slots[-1].dead
            if self.mode == "exec":
                for stream in streams:
                    stream.close()
                leftovers = self._exec_cleanup(slots[-1]) if not slots[-1].dead else 0
                healthy = healthy and leftovers is not None
                if leftovers:
                    note = f"[sandbox] killed {leftovers} process(es) the program left running"
                    result = dataclasses.replace(result, stderr=f"{result.stderr}\n{note}".lstrip("\n"))
            return result
        finally:
            for slot in slots[:-1]:
                if not slot.dead:
                    slot.destroy()
            self._release(slots[-1], healthy and not slots[-1].dead)

    def _exec_stream(self, slot: _Slot) -> DockerStream:
        """Start a runner with ``docker exec``; its attached stream."""
        import docker.errors

        api = self.client.api
        try:
            exec_id = api.exec_create(slot.container.id, runner_command(f"/work/r{uuid.uuid4().hex}"), stdin=True,
                                      user=USER, workdir="/work")["Id"]
            return DockerStream(api.exec_start(exec_id, socket=True))
        except docker.errors.APIError as exc:  # e.g. the container died: a stream that is at EOF
            slot.destroy()
            stream = DockerStream(socket.socket())
            stream.eof = True
            stream.stderr = bytearray(f"docker exec failed ({exc.explanation or exc})".encode())
            return stream

    def _exec_cleanup(self, slot: _Slot) -> int | None:
        """Exec mode: kill what the program left; how many (None if the cleanup failed)."""
        try:
            out = slot.container.exec_run(cleanup_command(), user=USER, workdir="/work").output
            return int(out.decode().strip().splitlines()[-1])
        except Exception:  # noqa: BLE001 - the container is unusable: it is replaced
            return None

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

    def close(self) -> None:
        """Remove every container of this pool; further runs raise. Idempotent."""
        self._closed = True
        with self._lock:
            threads = list(self._threads)
        for thread in threads:  # replacements being made: they see _closed and remove theirs
            thread.join(timeout=60)
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
