"""Check a task suite against a sandbox: reference solutions, trusted verdicts, fallback counts.

:func:`check_suite` runs every task's reference solution the way the code env judges a program
(trusted: ``Sandbox.run(..., entry_point=...)``, the task's ``fallback_tests`` run the old way)
and counts, per suite: tests judged trusted, tests flagged as fallback, and tests that fail
trusted but pass the old way (inside the program's process) -- the tests whose shape the stub
cannot express and that would need a ``fallback_tests`` entry. Public examples are checked too.
Kept apart from the CLI (``adiff tasks check``) so any command can call it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from adiff_env.code.tasks.base import Task


@dataclass
class SuiteCheck:
    """Outcome of :func:`check_suite` (``as_dict`` for JSON)."""

    tasks: int = 0
    tasks_passed: int = 0
    tests_passed: int = 0
    tests_total: int = 0
    trusted_tests: int = 0  # judged outside the program's process (the stub)
    fallback_tests: int = 0  # flagged by the task: run the old way, trusted=False
    needs_fallback: dict[str, list[int]] = field(default_factory=dict)  # fail trusted, pass the old way
    public_failed: list[str] = field(default_factory=list)  # "task_id:index" of public examples the reference fails
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def check_suite(tasks: Iterable[Task], sandbox, progress: Callable[[Iterable[Task]], Iterable[Task]] = iter) -> SuiteCheck:
    """Run each task's reference solution through ``sandbox`` (see the module docstring)."""
    out = SuiteCheck()
    start = time.perf_counter()
    for task in progress(tasks):
        if not task.solution:
            continue
        out.tasks += 1
        tests = list(task.tests) + list(task.public_tests)
        n = len(task.tests)
        if task.entry_point:
            result = sandbox.run(task.solution, tests, setup=task.setup, entry_point=task.entry_point,
                                 fallback=task.fallback_tests)
        else:
            result = sandbox.run(f"{task.setup}\n{task.solution}" if task.setup else task.solution, tests)
        scored = result.tests[:n]
        out.tests_total += n
        out.tests_passed += sum(t.passed for t in scored)
        out.trusted_tests += sum(t.trusted for t in scored)
        out.fallback_tests += len(task.fallback_tests)
        out.public_failed += [f"{task.task_id}:{t.index - n}" for t in result.tests[n:] if not t.passed]
        failing = [t.index for t in scored if not t.passed]
        if failing and task.entry_point:
            program = f"{task.setup}\n{task.solution}" if task.setup else task.solution
            old = sandbox.run(program, list(task.tests))
            rescued = [i for i in failing if old.tests[i].passed]
            if rescued:
                out.needs_fallback[task.task_id] = rescued
        if not all(t.passed for t in scored):
            out.failed.append(task.task_id)
        else:
            out.tasks_passed += 1
    out.wall_s = round(time.perf_counter() - start, 2)
    return out
