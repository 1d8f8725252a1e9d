"""Host side of every run: admission checks on program text and tests, the runner's source.

1. :func:`check_program` rejects text that must never reach a sandbox (not ``str``/UTF-8,
   NUL bytes, larger than ``Limits.program_bytes``);
2. :func:`check_tests` validates the test statements (they stay on the trusted side);
3. :func:`runner_source` is the program-side runner (``adiff_env/sandbox/runner/runner.py``,
   package data) that every sandbox starts; :mod:`adiff_env.sandbox.judge` drives it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from adiff_env.sandbox.base import ExecResult, Limits, TestOutcome

MESSAGE_CHARS = 500  # error messages are truncated to this many characters
RUNNER_PATH = Path(__file__).resolve().parent / "runner" / "runner.py"


@lru_cache(maxsize=1)
def runner_source() -> str:
    """Text of the program-side runner, copied into every sandbox (it holds no test or task data)."""
    if not RUNNER_PATH.is_file():
        raise FileNotFoundError(f"Sandbox runner not found at {RUNNER_PATH}; the installation is incomplete.")
    return RUNNER_PATH.read_text(encoding="utf-8")


def check_fallback(fallback: object, n_tests: int) -> frozenset[int]:
    """Validate ``fallback`` (indices of tests that run the old, untrusted way)."""
    if isinstance(fallback, (str, bytes)) or not hasattr(fallback, "__iter__"):
        raise TypeError(f"fallback must be a collection of test indices, got {type(fallback).__name__}.")
    out = set()
    for i in fallback:  # type: ignore[union-attr]
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n_tests:
            raise ValueError(f"fallback index {i!r} is not a test index in 0..{n_tests - 1}.")
        out.add(i)
    return frozenset(out)


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


def rejected_result(reason: str, n_tests: int) -> ExecResult:
    """The result of a program that never ran: every test failed with ``Rejected``."""
    outcomes = tuple(TestOutcome(i, False, "Rejected", reason[:MESSAGE_CHARS]) for i in range(n_tests))
    return ExecResult(tests=outcomes, compiled=False, rejected=reason, tests_total=n_tests)
