"""The sandbox protocol: run a program against a list of tests, get a typed result.

``Sandbox.run(program, tests, limits) -> ExecResult``. Each test (a Python statement, usually
an ``assert``) runs separately after the program, so one failing test does not hide the
others. With ``entry_point`` the verdict is trusted: the tests run in a judge outside the
program's reach, which calls the program's function through a stub (``adiff_env.sandbox.judge``). Implementations: ``DockerSandbox`` (the security boundary) and ``ProcessSandbox``
(local subprocesses; not a security boundary, chosen explicitly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run. Defaults suit HumanEval-sized tasks."""

    wall_s: float = 10.0  # wall-clock limit for the whole run (program + all tests)
    memory_mb: int = 256  # memory limit (no swap)
    pids: int = 64  # max processes/threads
    cpus: float = 1.0  # CPU quota, in cores
    output_bytes: int = 64 * 1024  # stdout and stderr are each capped to this many bytes
    workdir_mb: int = 64  # size cap of the tmpfs work dir
    program_bytes: int = 256 * 1024  # larger program text is rejected before it runs
    test_s: float | None = None  # per-step limit (program top level, each test); None: wall_s only

    def __post_init__(self) -> None:
        for name in ("wall_s", "memory_mb", "pids", "cpus", "output_bytes", "workdir_mb", "program_bytes"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"Limits.{name} must be a number > 0, got {value!r}.")
        if self.test_s is not None and not (isinstance(self.test_s, (int, float)) and self.test_s > 0):
            raise ValueError(f"Limits.test_s must be None or a number > 0, got {self.test_s!r}.")


@dataclass(frozen=True)
class TestOutcome:
    """Result of one test statement."""

    __test__ = False  # not a pytest test class
    index: int
    passed: bool
    error_type: str | None = None  # e.g. "AssertionError", "NameError", "Timeout"
    message: str = ""  # truncated error message
    trusted: bool = False  # judged outside the program's reach (the stub); False: ran in its process


@dataclass(frozen=True)
class ExecResult:
    """Result of ``Sandbox.run``. ``tests`` holds one outcome per test, in order."""

    tests: tuple[TestOutcome, ...]
    stdout: str = ""
    stderr: str = ""
    wall_s: float = 0.0
    compiled: bool = True  # the program text parsed and its top level ran
    timed_out: bool = False
    oom: bool = False
    output_truncated: bool = False
    rejected: str | None = None  # why the program never ran (too large, NUL bytes, ...)
    error: str | None = None  # why the program's process failed to answer (timeout, crash, protocol), if any
    tests_total: int = field(default=0)
    restarts: int = 0  # fresh program processes started after one died (timeout, crash, violation)

    @property
    def trusted(self) -> bool:
        """Every test was judged by the trusted side (none ran the old way in the program's process)."""
        return bool(self.tests) and all(t.trusted for t in self.tests)

    @property
    def untrusted_tests(self) -> int:
        """How many tests ran the old way, inside the program's process (``trusted=False``)."""
        return sum(not t.trusted for t in self.tests)

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def pass_rate(self) -> float:
        total = self.tests_total or len(self.tests)
        return self.passed / total if total else 0.0

    @property
    def all_passed(self) -> bool:
        total = self.tests_total or len(self.tests)
        return total > 0 and self.passed == total


@runtime_checkable
class Sandbox(Protocol):
    """``run(program, tests, limits, *, setup="", entry_point=None, fallback=())``.

    With ``entry_point`` the verdict is trusted: the program's process only loads ``program`` and
    answers calls of ``entry_point`` with plain data; ``setup`` and each test run in the trusted
    judge with ``entry_point`` bound to a stub (tests listed in ``fallback`` excepted). Without
    it every test runs the old way in the program's process (``TestOutcome.trusted=False``).
    """

    def run(self, program: str, tests: list[str], limits: Limits | None = None) -> ExecResult: ...

    def close(self) -> None: ...
