"""ProcessSandbox: the sandbox protocol on local subprocesses, for machines without Docker.

NOT a security boundary. Verdicts are judged by the trusted judge in the caller's process
(:mod:`adiff_env.sandbox.judge`); the program runs in a separate runner process
(``runner.py run``) in a fresh temporary work dir, its own session (process group), with
rlimits on itself (address space ``memory_mb``, file size ``workdir_mb``, CPU seconds, no core
dumps, processes ``pids`` where that works). Deadlines are the judge's: at a deadline the whole
process group is SIGKILLed from here.

Where ``unshare`` can make a PID namespace (as root; or with unprivileged user namespaces)
the runner is PID 1 of a new one (``isolate=True``, the default where it works): the program
cannot address any process outside it (not the judge, not the caller), and when the runner
dies the kernel kills everything the program started, so nothing outlives a run.

What this sandbox cannot promise: without a PID namespace a program that escapes the process
group (``setsid`` + double fork) and kills its runner can outlive the run, and it can signal
the caller's processes; with or without one, the program runs as the caller's user (unless
``user`` drops privileges, which needs root) and can read whatever that user can -- the task
files and packages on disk included -- write files and open sockets. The verdict itself
stays out of its reach only in the sense that it never runs in the program's process. Use
:class:`~adiff_env.sandbox.docker.DockerSandbox` for untrusted code.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Collection
from functools import lru_cache

from adiff_env.sandbox.base import ExecResult, Limits
from adiff_env.sandbox.jobs import check_fallback, check_program, check_tests, rejected_result, runner_source
from adiff_env.sandbox.judge import judge
from adiff_env.sandbox.session import Session


class UnsafeSandboxWarning(UserWarning):
    """Emitted when a sandbox that is not a security boundary is constructed."""


@lru_cache(maxsize=2)
def pid_namespace_prefix(root: bool) -> tuple[str, ...] | None:
    """The ``unshare`` command that runs a command as PID 1 of a new PID namespace, if that works here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = (unshare,) + (() if root else ("--user",)) + ("--pid", "--fork", "--kill-child", "--mount-proc")
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return prefix if ok else None


class _PipeTransport:
    """A runner subprocess: its stdin/stdout are the channel; kill = SIGKILL its process group."""

    def __init__(self, argv: list[str], *, cwd: str, user: str | int | None) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     start_new_session=True, env=env, cwd=cwd, user=user)
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()  # type: ignore[union-attr]
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)

    def write(self, data: bytes, deadline: float) -> bool:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self._in], [], remaining)[1]:
                return False
            try:
                view = view[os.write(self._in, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                return True  # the process is gone: the read reports it
        return True

    def read(self, timeout: float) -> bytes | None:
        if not select.select([self._out], [], [], max(timeout, 0))[0]:
            return None
        try:
            return os.read(self._out, 1 << 16)
        except BlockingIOError:
            return None if timeout <= 0 else self.read(0.001)
        except OSError:
            return b""

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def diagnostics(self) -> str:
        try:
            self._err.seek(0)
            return self._err.read()[-300:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def close(self) -> None:
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._err.close()


class ProcessSandbox:
    """Run programs in local subprocesses with rlimits (see module docstring).

    ``python``: interpreter for the runner (default: this one). ``user``: name or uid to run
    as (needs root; e.g. ``"nobody"`` with ``python="/usr/bin/python3"``), which also makes the
    process limit effective. ``isolate``: run the runner as PID 1 of a new PID namespace
    (``None``: where ``unshare`` can; ``True``: required, ``RuntimeError`` if it cannot).
    ``limits``: defaults for :meth:`run`.
    """

    def __init__(self, limits: Limits | None = None, *, python: str | None = None, user: str | int | None = None,
                 isolate: bool | None = None) -> None:
        warnings.warn(
            "ProcessSandbox is NOT a security boundary: programs run as local processes with "
            "rlimits only and can read files, open sockets and signal your processes. "
            "Use DockerSandbox for untrusted code.",
            UnsafeSandboxWarning,
            stacklevel=2,
        )
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got {type(limits).__name__}.")
        self.limits = limits or Limits()
        self.python = python or sys.executable
        self.user = user
        if user is not None and os.geteuid() != 0:
            raise ValueError(f"ProcessSandbox(user={user!r}) needs root to switch users; run as root or pass user=None.")
        prefix = pid_namespace_prefix(os.geteuid() == 0) if isolate is not False else None
        if isolate is True and prefix is None:
            raise RuntimeError("ProcessSandbox(isolate=True): `unshare --pid --fork` does not work here; "
                               "run as root, enable unprivileged user namespaces, or pass isolate=None.")
        self.isolated = prefix is not None
        self._prefix = prefix or ()
        self._drop: tuple[str, ...] = ()  # with a namespace, unshare (root) drops to ``user`` inside it
        if self.isolated and user is not None:
            import pwd

            entry = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
            self._drop = ("--setgid", str(entry.pw_gid), "--setuid", str(entry.pw_uid))
        self._closed = False

    def run(self, program: str, tests: list[str], limits: Limits | None = None, *, setup: str = "",
            entry_point: str | None = None, fallback: Collection[int] = ()) -> ExecResult:
        """Judge ``program`` on ``tests``; see :class:`~adiff_env.sandbox.base.Sandbox`."""
        if self._closed:
            raise RuntimeError("ProcessSandbox is closed; create a new one.")
        tests = check_tests(tests)
        fallback = check_fallback(fallback, len(tests))
        limits = limits or self.limits
        text, reason = check_program(program, limits)
        if reason is not None:
            return rejected_result(reason, len(tests))
        tmp = tempfile.mkdtemp(prefix="adiff-sandbox-")
        transports: list[_PipeTransport] = []
        try:
            runner = os.path.join(tmp, "runner.py")
            with open(runner, "w", encoding="utf-8") as fh:
                fh.write(runner_source())
            if self.user is not None:
                shutil.chown(tmp, user=self.user)

            def open_session() -> Session:
                work = os.path.join(tmp, f"work{len(transports)}")
                argv = [*self._prefix, *self._drop, self.python, "-I", runner, "run", work]
                transports.append(_PipeTransport(argv, cwd=tmp, user=None if self._drop else self.user))
                return Session(transports[-1], output_cap=limits.output_bytes)

            rlimit_nproc = os.geteuid() != 0 or self.user is not None
            result, _ = judge(text, tests, limits, open_session, setup=setup, entry_point=entry_point,
                              fallback=fallback, rlimit_nproc=rlimit_nproc)
            return result
        finally:
            for transport in transports:
                transport.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def close(self) -> None:
        """Nothing is held between runs; further runs raise."""
        self._closed = True

    def __enter__(self) -> ProcessSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
