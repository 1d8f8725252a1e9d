"""A code task: a prompt, a program to write, and tests that judge it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Task:
    """One code-writing task.

    ``tests`` are Python statements (usually ``assert``s) run one by one after ``setup`` and
    the program. ``entry_point`` names the function to define, if any; ``solution`` is a
    reference program that passes every test. ``meta`` carries source-specific fields
    (family, split, difficulty). ``public_tests`` are examples the agent may see (the code
    env shows their outcomes; they are never scored); ``fallback_tests`` are indices of tests
    whose shape the trusted judge's stub cannot express (identity, in-place mutation,
    generators, custom classes): they run inside the program's process, flagged untrusted.
    """

    task_id: str
    prompt: str
    tests: tuple[str, ...]
    entry_point: str | None = None
    setup: str = ""
    solution: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    public_tests: tuple[str, ...] = ()
    fallback_tests: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.task_id:
            raise ValueError("Task.task_id must be a non-empty string.")
        if not self.tests:
            raise ValueError(f"Task {self.task_id!r} has no tests; a task needs at least one.")
        bad = [i for i in self.fallback_tests if not isinstance(i, int) or not 0 <= i < len(self.tests)]
        if bad:
            raise ValueError(f"Task {self.task_id!r}: fallback_tests {bad} are not test indices in 0..{len(self.tests) - 1}.")
