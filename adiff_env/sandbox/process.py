"""ProcessSandbox: the sandbox protocol on local subprocesses, for machines without Docker.

NOT a security boundary. Each run gets a fresh temporary work dir holding a copy of the
harness; the harness supervisor starts in a new session (process group) and forks the
runner with rlimits: address space (``memory_mb``), file size (``workdir_mb``), CPU
seconds (``wall_s + 1``), no core dumps and, where it works (not as root, unless ``user``
drops privileges), processes (``pids``). The harness kills the runner's process tree at
``wall_s``; this class kills the whole session from outside a little later if the harness
itself hangs. Output is capped inside the harness. The program can still read and write
whatever the user running it can, and open sockets: use :class:`DockerSandbox` for
untrusted code.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings

from adiff_env.sandbox.base import ExecResult, Limits
from adiff_env.sandbox.jobs import (
    build_job,
    check_program,
    check_tests,
    harness_source,
    parse_report,
    rejected_result,
    result_from_report,
)

GRACE_S = 2.0  # extra wall time before the harness itself is killed from outside
REPORT_CAP = 8 << 20  # a report larger than this is malformed (the cap bounds real reports)


class UnsafeSandboxWarning(UserWarning):
    """Emitted when a sandbox that is not a security boundary is constructed."""


class ProcessSandbox:
    """Run programs in local subprocesses with rlimits (see module docstring).

    ``python``: interpreter for the harness (default: this one). ``user``: name or uid to
    run as (needs root; e.g. ``"nobody"`` with ``python="/usr/bin/python3"``), which also
    makes the process limit effective. ``limits``: defaults for :meth:`run`.
    """

    def __init__(self, limits: Limits | None = None, *, python: str | None = None, user: str | int | None = None) -> None:
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
        self._closed = False

    def run(self, program: str, tests: list[str], limits: Limits | None = None) -> ExecResult:
        """Run ``program`` then each test; see :class:`~adiff_env.sandbox.base.Sandbox`."""
        if self._closed:
            raise RuntimeError("ProcessSandbox is closed; create a new one.")
        tests = check_tests(tests)
        limits = limits or self.limits
        text, reason = check_program(program, limits)
        if reason is not None:
            return rejected_result(reason, len(tests))
        rlimit_nproc = os.geteuid() != 0 or self.user is not None
        job = build_job(text, tests, limits, rlimit_nproc=rlimit_nproc)
        tmp = tempfile.mkdtemp(prefix="adiff-sandbox-")
        try:
            harness = os.path.join(tmp, "harness.py")
            with open(harness, "w", encoding="utf-8") as fh:
                fh.write(harness_source())
            if self.user is not None:
                shutil.chown(tmp, user=self.user)
            return self._run_harness(harness, os.path.join(tmp, "work"), job, len(tests), limits)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _run_harness(self, harness: str, workdir: str, job: bytes, n_tests: int, limits: Limits) -> ExecResult:
        start = time.monotonic()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        proc = subprocess.Popen(
            [self.python, "-I", harness, workdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
            cwd=os.path.dirname(harness),
            user=self.user,
        )
        killed = False
        try:
            out, err = proc.communicate(job, timeout=limits.wall_s + GRACE_S)
        except subprocess.TimeoutExpired:
            killed = True
            _killpg(proc.pid)
            out, err = proc.communicate()
        finally:
            _killpg(proc.pid)  # anything left in the session
        wall = time.monotonic() - start
        report = parse_report(out) if len(out) <= REPORT_CAP else None
        error = None
        if report is None:
            detail = err.decode("utf-8", "replace").strip()[-300:]
            how = "was killed after the wall limit" if killed else f"exited with {proc.returncode}"
            error = f"the harness {how} without a report" + (f": {detail}" if detail else "")
        return result_from_report(report, n_tests, limits, wall_s=wall, error=error, timed_out=killed)

    def close(self) -> None:
        """Nothing is held between runs; further runs raise."""
        self._closed = True

    def __enter__(self) -> ProcessSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
