"""Host side of the harness: check program text, build the job, turn the report into an ExecResult.

The harness itself (``envs/sandbox/harness.py``) runs inside the sandbox and prints one JSON
report; every sandbox implementation shares these three steps around it:

1. :func:`check_program` rejects text that must never reach a sandbox (not ``str``/UTF-8,
   NUL bytes, larger than ``Limits.program_bytes``);
2. :func:`build_job` turns program, tests and limits into the JSON job the harness reads;
3. :func:`result_from_report` maps the report (or its absence) to an :class:`ExecResult`,
   filling in every test the harness never reported, so ``len(result.tests) == len(tests)``.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

from adiff_env.assets import asset_path
from adiff_env.sandbox.base import ExecResult, Limits, TestOutcome

MESSAGE_CHARS = 500  # error messages are truncated to this many characters


@lru_cache(maxsize=1)
def harness_source() -> str:
    """Text of ``envs/sandbox/harness.py``, the script copied into every run."""
    path = asset_path("envs", "sandbox", "harness.py")
    if not path.is_file():
        raise FileNotFoundError(f"Sandbox harness not found at {path}; the installation is incomplete.")
    return path.read_text(encoding="utf-8")


def check_program(program: object, limits: Limits) -> tuple[str, str | None]:
    """Return ``(text, reason)``: ``reason`` is why the program must not run, else ``None``.

    Accepts ``str`` or UTF-8 ``bytes``. Rejects: another type, bytes that are not valid
    UTF-8, text that cannot be encoded as UTF-8 (lone surrogates), NUL bytes, and text whose
    UTF-8 encoding is longer than ``limits.program_bytes``.
    """
    if isinstance(program, (bytes, bytearray)):
        try:
            program = bytes(program).decode("utf-8")
        except UnicodeDecodeError as exc:
            return "", f"program is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    if not isinstance(program, str):
        return "", f"program must be str or UTF-8 bytes, got {type(program).__name__}"
    try:
        size = len(program.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return "", f"program is not valid UTF-8 ({exc.reason} at character {exc.start})"
    if "\x00" in program:
        return "", f"program contains a NUL byte (at character {program.index(chr(0))})"
    if size > limits.program_bytes:
        return "", f"program is {size} bytes, over the limit of {limits.program_bytes} bytes"
    return program, None


def check_tests(tests: object) -> list[str]:
    """Validate ``tests`` (a list/tuple of str without NUL bytes) and return them as a list."""
    if isinstance(tests, str) or not isinstance(tests, (list, tuple)):
        raise TypeError(f"tests must be a list of str (Python statements), got {type(tests).__name__}.")
    for i, test in enumerate(tests):
        if not isinstance(test, str):
            raise TypeError(f"tests[{i}] must be str, got {type(test).__name__}.")
        if "\x00" in test:
            raise ValueError(f"tests[{i}] contains a NUL byte; test statements must be plain text.")
    return list(tests)


def build_job(program: str, tests: list[str], limits: Limits, *, rlimit_nproc: bool = False) -> bytes:
    """The harness job as UTF-8 JSON bytes (see ``envs/sandbox/harness.py`` for the fields).

    ``rlimit_nproc`` also sets RLIMIT_NPROC to ``limits.pids`` (it counts every process of
    the user, so only where the user runs nothing else).
    """
    job = {
        "program": program,
        "tests": tests,
        "wall_s": limits.wall_s,
        "test_s": limits.test_s,
        "output_bytes": limits.output_bytes,
        "memory_bytes": limits.memory_mb << 20,
        "fsize_bytes": limits.workdir_mb << 20,
        "nproc": limits.pids if rlimit_nproc else None,
        "cpu_s": math.ceil(limits.wall_s) + 1,
        "message_chars": MESSAGE_CHARS,
    }
    return json.dumps(job).encode("utf-8")


def rejected_result(reason: str, n_tests: int) -> ExecResult:
    """The result of a program that never ran: every test failed with ``Rejected``."""
    outcomes = tuple(TestOutcome(i, False, "Rejected", reason[:MESSAGE_CHARS]) for i in range(n_tests))
    return ExecResult(tests=outcomes, compiled=False, rejected=reason, tests_total=n_tests)


def result_from_report(
    report: dict | None, n_tests: int, limits: Limits, *, wall_s: float, error: str | None = None, timed_out: bool = False
) -> ExecResult:
    """Map the harness report to an :class:`ExecResult`.

    ``report`` is ``None`` when the harness printed nothing usable (it was killed, or the
    sandbox failed); ``error`` then says why. Tests the harness did not report fail with
    ``Timeout`` when the run timed out, else ``NotRun``.
    """
    report = report or {}
    steps = report.get("steps", [])
    program = next((s for s in steps if s.get("kind") == "program"), None)
    by_index = {s.get("index"): s for s in steps if s.get("kind") == "test"}
    timed_out = timed_out or bool(report.get("timed_out"))
    if not report and error is None:
        error = "the harness produced no report"
    elif report and len(by_index) < n_tests and not timed_out:
        error = error or f"the harness stopped before the last test ({report.get('exit', 'unknown exit')})"
    outcomes = []
    for i in range(n_tests):
        step = by_index.get(i)
        if step is None:
            kind = "Timeout" if timed_out else "NotRun"
            outcomes.append(TestOutcome(i, False, kind, "time limit exceeded" if timed_out else (error or "")[:MESSAGE_CHARS]))
        else:
            passed = bool(step.get("passed"))
            outcomes.append(
                TestOutcome(i, passed, None if passed else str(step.get("error_type")), str(step.get("message", ""))[:MESSAGE_CHARS])
            )
    stderr = str(report.get("stderr", ""))
    if program is not None and not program.get("passed"):
        note = f"[program] {program.get('error_type')}: {program.get('message', '')}"
        stderr = f"{stderr}\n{note}" if stderr else note
    if report.get("leftovers"):
        note = f"[sandbox] killed {report['leftovers']} process(es) the program left running"
        stderr = f"{stderr}\n{note}" if stderr else note
    cap = limits.output_bytes
    return ExecResult(
        tests=tuple(outcomes),
        stdout=str(report.get("stdout", "")),
        stderr=stderr,
        wall_s=wall_s,
        compiled=bool(program and program.get("passed")),
        timed_out=timed_out,
        oom=bool(report.get("oom")),
        output_truncated=report.get("stdout_bytes", 0) > cap or report.get("stderr_bytes", 0) > cap,
        error=error,
        tests_total=n_tests,
    )


def parse_report(raw: bytes) -> dict | None:
    """Decode the harness's JSON report; ``None`` if it is missing or malformed."""
    try:
        report = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return report if isinstance(report, dict) and isinstance(report.get("steps"), list) else None
