"""Generated hidden tests: :func:`augment_task` / :func:`augment_suite` (``adiff code tasks augment``).

For a task with an entry point, a reference solution and tests:

1. candidate inputs come from :mod:`adiff_env.code.tasks.augment_inputs` (types inferred from
   the literal arguments of the given tests; boundary values, mutated seed inputs, random
   inputs), ``pool_factor * per_task`` of them, drawn from ``Random(f"augment:{seed}:{task_id}")``;
2. the reference runs on every candidate **through the sandbox** on the trusted-judge path
   (``sandbox.run(solution, probes, setup=..., entry_point=...)``), twice, in separate runs
   (separate processes, so a hash-order dependence shows). A probe is a one-call
   ``assert`` with literal arguments (the pipelined shape) whose trusted helper, defined in the
   probe's setup, appends the decoded return value to a JSONL file of ours: the judge, not the
   program, writes it, and only plain data decoded by the sandbox's codec reaches it
   (calls the judge left unrun after its restarts, behind calls that timed out, run again;
   after :data:`MAX_TIMEOUTS` timed-out calls in a pass the task's remaining candidates are dropped);
3. an input is kept when both runs returned, within ``Limits.test_s``, the same value (by its
   codec encoding) that can be written as a Python literal; a reference that raised, timed out
   or gave two answers drops it. The first ``per_task`` kept inputs (boundary, mutation and
   random ones in the order drawn) become tests ``assert ENTRY(ARGS) == EXPECTED`` (a float result:
   ``assert abs(ENTRY(ARGS) - EXPECTED) <= TOL`` with ``TOL = 1e-6 * max(1, |EXPECTED|)``);
4. the reference is judged on the new tests once more, the way ``adiff evaluate`` judges
   programs; a test it fails is dropped (so it passes every augmented test).

The augmented task is the original plus the new tests appended (``meta["augment"]`` records
the seed, per_task and, per added test, its index, generator kind, source test and detail).
Tasks without an entry point, reference or literal seed inputs are kept unchanged (counted).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

from adiff_env.code.tasks.augment_inputs import Candidate, candidates, seed_inputs
from adiff_env.code.tasks.base import Task
from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.judge import MAX_RESTARTS

_SINK = "_adiff_probe"
PROBE_BATCH = 40  # candidates per sandbox run
MAX_TIMEOUTS = 6  # per probing pass of a task: after that many calls timed out, the rest are dropped


@dataclass(frozen=True)
class AugmentConfig:
    """How many tests to add per task and how to draw them (``seed``: the generators' seed)."""

    per_task: int = 30
    seed: int = 0
    pool_factor: int = 2  # candidates drawn per wanted test
    test_s: float = 1.0  # the reference's time limit per candidate call
    max_expected_chars: int = 4000  # longer expected values are not kept

    def __post_init__(self) -> None:
        for name in ("per_task", "pool_factor", "max_expected_chars"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"AugmentConfig.{name} must be an integer >= 1, got {value!r}.")
        if type(self.seed) is not int:
            raise ValueError(f"AugmentConfig.seed must be an integer, got {self.seed!r}.")
        if not (isinstance(self.test_s, (int, float)) and self.test_s > 0):
            raise ValueError(f"AugmentConfig.test_s must be a number > 0, got {self.test_s!r}.")


@dataclass
class AugmentSummary:
    tasks: int = 0
    augmented: int = 0  # tasks that got at least one test
    skipped: dict[str, str] = field(default_factory=dict)  # task_id -> why it was kept unchanged
    candidates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count
    added: int = 0
    added_by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _aliases(setup: str, entry_point: str) -> list[str]:
    pattern = rf"^def (\w+)\(\*args, \*\*kwargs\):\n    return {re.escape(entry_point)}\(\*args, \*\*kwargs\)$"
    return [entry_point, *re.findall(pattern, setup, flags=re.M)]


def _probe_setup(setup: str, sink: str) -> str:
    return setup + (
        f"\nimport json as _adiff_json\nfrom adiff_env.sandbox.codec import encode as _adiff_encode\n"
        f"def {_SINK}(i, value):\n"
        f"    with open({sink!r}, 'a', encoding='utf-8') as fh:\n"
        f"        fh.write(_adiff_json.dumps([i, _adiff_encode(value)]) + '\\n')\n"
        f"    return True\n"
    )


def _call(entry_point: str, args: tuple) -> str:
    return f"{entry_point}({', '.join(repr(a) for a in args)})"


def _probe_values(sandbox, task: Task, inputs: list[tuple], limits: Limits) -> list[tuple[str, str | None]]:
    """Per input: ``("ok", json_of_encoded_value)`` or ``(reason, None)``; one sandbox run per batch."""
    out: dict[int, tuple[str, str | None]] = {}
    queue = list(range(len(inputs)))
    timed_out = 0
    while queue:
        if timed_out >= MAX_TIMEOUTS:  # a reference this slow on these inputs: stop probing it
            out.update({c: ("reference Timeout (probing stopped)", None) for c in queue})
            break
        batch, queue = queue[:PROBE_BATCH], queue[PROBE_BATCH:]
        fd, sink = tempfile.mkstemp(prefix="adiff-augment-", suffix=".jsonl")
        os.close(fd)
        try:
            probes = [f"assert {_SINK}({i}, {_call(task.entry_point, inputs[c])})" for i, c in enumerate(batch)]
            result = sandbox.run(task.solution, probes, limits, setup=_probe_setup(task.setup, sink),
                                 entry_point=task.entry_point)
            values: dict[int, str] = {}
            with open(sink, encoding="utf-8") as fh:
                for line in fh:
                    i, value = json.loads(line)
                    values[i] = json.dumps(value)
        finally:
            os.unlink(sink)
        # after MAX_RESTARTS + 1 calls that timed out the judge fails the rest unrun: run those again
        timeouts = [i for i, t in enumerate(result.tests) if t.error_type == "Timeout"]
        unrun = set(timeouts[MAX_RESTARTS + 1:]) if len(timeouts) > MAX_RESTARTS + 1 else set()
        timed_out += len(timeouts) - len(unrun)
        for i, outcome in enumerate(result.tests):
            if i in unrun:
                queue.append(batch[i])
            elif outcome.passed and i in values:
                out[batch[i]] = ("ok", values[i])
            else:
                out[batch[i]] = (f"reference {outcome.error_type or 'failed'}", None)
    return [out[i] for i in range(len(inputs))]


def _has_float(value: object) -> bool:
    if type(value) is float:
        return True
    if type(value) in (list, tuple, set):
        return any(_has_float(v) for v in value)
    if type(value) is dict:
        return any(_has_float(k) or _has_float(v) for k, v in value.items())
    return False


def _finite(value: object) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple, set):
        return all(_finite(v) for v in value)
    if type(value) is dict:
        return all(_finite(k) and _finite(v) for k, v in value.items())
    return True


def _test_source(entry_point: str, args: tuple, expected: object) -> str:
    call = _call(entry_point, args)
    if type(expected) is float:
        tol = 1e-6 * max(1.0, abs(expected))
        return f"assert abs({call} - {expected!r}) <= {tol!r}"
    return f"assert {call} == {expected!r}"


def augment_task(task: Task, sandbox, config: AugmentConfig, summary: AugmentSummary | None = None) -> Task:
    """``task`` with generated tests appended (see the module docstring)."""
    from adiff_env.sandbox.codec import decode

    summary = summary if summary is not None else AugmentSummary()
    summary.tasks += 1
    if not task.entry_point or not task.solution:
        summary.skipped[task.task_id] = "no entry point or no reference solution"
        return task
    names = _aliases(task.setup, task.entry_point)
    seeds = seed_inputs(list(task.tests) + list(task.public_tests), names)
    if not seeds:
        summary.skipped[task.task_id] = "no test calls the entry point with literal arguments"
        return task
    rng = random.Random(f"augment:{config.seed}:{task.task_id}")
    pool: list[Candidate] = candidates(seeds, rng, config.pool_factor * config.per_task)
    summary.candidates += len(pool)
    base = getattr(sandbox, "limits", None)  # keep the sandbox's container limits (Docker cannot change them)
    limits = replace(base if isinstance(base, Limits) else Limits(), wall_s=max(60.0, config.test_s * PROBE_BATCH),
                     test_s=config.test_s)
    inputs = [c.args for c in pool]
    first = _probe_values(sandbox, task, inputs, limits)
    again = [i for i, (reason, _) in enumerate(first) if reason == "ok"]  # the second run: only what passed
    second: list[tuple[str, str | None]] = [("not probed again", None)] * len(inputs)
    for i, outcome in zip(again, _probe_values(sandbox, task, [inputs[i] for i in again], limits)):
        second[i] = outcome
    kept: list[tuple[Candidate, str]] = []
    for cand, (r1, v1), (r2, v2) in zip(pool, first, second):
        reason = r1 if r1 != "ok" else r2 if r2 != "ok" else None
        if reason is None and v1 != v2:
            reason = "reference not deterministic"
        test = None
        if reason is None:
            expected = decode(json.loads(v1))
            if not _finite(expected):
                reason = "expected value not finite"
            else:
                test = _test_source(task.entry_point, cand.args, expected)
                if len(repr(expected)) > config.max_expected_chars:
                    reason = "expected value too long"
        if reason is not None:
            summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
            continue
        kept.append((cand, test))
        if len(kept) >= config.per_task:
            break
    if kept:  # the judge's own verdict on the new tests, as programs get it
        result = sandbox.run(task.solution, [t for _, t in kept], setup=task.setup, entry_point=task.entry_point)
        passing = [k for k, outcome in zip(kept, result.tests) if outcome.passed]
        if len(passing) < len(kept):
            summary.rejected["reference fails the written test"] = (
                summary.rejected.get("reference fails the written test", 0) + len(kept) - len(passing))
        kept = passing
    if not kept:
        summary.skipped[task.task_id] = "no candidate input survived the reference checks"
        return task
    n = len(task.tests)
    added = []
    for k, (cand, _) in enumerate(kept):
        added.append({"test": n + k, "kind": cand.kind, "seed": config.seed, "source_test": cand.source_test,
                      "detail": cand.detail})
        summary.added_by_kind[cand.kind] = summary.added_by_kind.get(cand.kind, 0) + 1
    summary.augmented += 1
    summary.added += len(kept)
    meta = {**task.meta, "augment": {"seed": config.seed, "per_task": config.per_task, "original_tests": n,
                                     "added": added}}
    return Task(task_id=task.task_id, prompt=task.prompt, tests=task.tests + tuple(t for _, t in kept),
                entry_point=task.entry_point, setup=task.setup, solution=task.solution, meta=meta,
                public_tests=task.public_tests, fallback_tests=task.fallback_tests)


def augment_suite(tasks: Iterable[Task], sandbox, config: AugmentConfig,
                  progress: Callable[[Iterable[Task]], Iterable[Task]] = iter) -> tuple[list[Task], AugmentSummary]:
    """Every task of ``tasks`` through :func:`augment_task`; returns the tasks and a summary."""
    summary = AugmentSummary()
    return [augment_task(t, sandbox, config, summary) for t in progress(list(tasks))], summary


def original_tests(task: Task) -> tuple[str, ...]:
    """The tests ``task`` had before augmentation (all of them if it was not augmented)."""
    n = task.meta.get("augment", {}).get("original_tests")
    return task.tests[:n] if isinstance(n, int) else task.tests
