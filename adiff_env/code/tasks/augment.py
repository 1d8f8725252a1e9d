"""Generated hidden tests: :func:`augment_task` / :func:`augment_suite` (``adiff code tasks augment``).

For a task with an entry point, a reference solution and tests:

1. candidate inputs come from :mod:`adiff_env.code.tasks.augment_inputs` and
   :mod:`adiff_env.code.tasks.augment_structured` (types inferred from the seed inputs: the
   literal arguments of the given tests, plus -- ``trace`` -- the arguments they compute,
   recorded by :func:`traced_inputs`; boundary values, mutated, random, structured,
   small-scope, chained and constant-pool inputs, the last steered by the reference's
   constants, ``hints``), ``pool_factor * per_task`` of them, drawn from
   ``Random(f"augment:{seed}:{task_id}")``;
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
   or gave two answers drops it. ``per_task`` of the kept inputs (``select="diverse"``: one
   per distinct expected value in turn, see :func:`_select`; ``"drawn"``: the first ones),
   in the order drawn, become tests ``assert ENTRY(ARGS) == EXPECTED`` (a float result:
   ``assert abs(ENTRY(ARGS) - EXPECTED) <= TOL`` with ``TOL = 1e-6 * max(1, |EXPECTED|)``);
4. the reference is judged on the new tests once more, the way ``adiff evaluate`` judges
   programs; a test it fails is dropped (so it passes every augmented test).

The augmented task is the original plus the new tests appended (``meta["augment"]`` records
the seed, per_task and, per added test, its index, generator kind, source test and detail).
Tasks without an entry point, reference or literal seed inputs are kept unchanged (counted).
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

from adiff_env.code.tasks.augment_candidates import candidates
from adiff_env.code.tasks.augment_inputs import Candidate, Seed, finite, is_plain, seed_inputs, typed_key
from adiff_env.code.tasks.augment_structured import hints_from
from adiff_env.code.tasks.base import Task
from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.judge import MAX_RESTARTS

_SINK = "_adiff_probe"
PROBE_BATCH = 40  # candidates per sandbox run
MAX_TIMEOUTS = 10  # per probing pass of a task: after that many calls timed out, the rest are dropped


@dataclass(frozen=True)
class AugmentConfig:
    """How many tests to add per task and how to draw them (``seed``: the generators' seed)."""

    per_task: int = 30
    seed: int = 0
    pool_factor: int = 4  # candidates drawn per wanted test (the selection picks per_task of those kept)
    test_s: float = 1.0  # the reference's time limit per candidate call
    max_expected_chars: int = 4000  # longer expected values are not kept
    trace: bool = True  # also seed from the arguments the given tests compute (traced_inputs)
    hints: bool = True  # steer the structured generators by the reference's constants (augment_structured.Hints)
    select: str = "diverse"  # "diverse": inputs with a new expected value first; "drawn": draw order

    def __post_init__(self) -> None:
        for name in ("per_task", "pool_factor", "max_expected_chars"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"AugmentConfig.{name} must be an integer >= 1, got {value!r}.")
        if self.select not in ("diverse", "drawn"):
            raise ValueError(f"AugmentConfig.select must be 'diverse' or 'drawn', got {self.select!r}.")
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
    traced_seeds: int = 0  # seed inputs recorded from the given tests' run (computed arguments)
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


MAX_TRACED = 40  # seed inputs recorded from a task's own test run, at most


def _trace_setup(setup: str, aliases: list[str], entry_point: str, sink: str, seed_text: str) -> str:
    """``setup`` plus forwarders that record their arguments (plain data, no keywords) to ``sink``;
    the global ``random`` is seeded so tests that draw their inputs draw the same ones every run."""
    lines = [setup, "import json as _adiff_json", "import random as _adiff_random",
             "from adiff_env.sandbox.codec import encode as _adiff_encode", f"_adiff_random.seed({seed_text!r})",
             "def _adiff_trace(args):", "    try:", "        line = _adiff_json.dumps(_adiff_encode(list(args)))",
             "    except Exception:", "        return", f"    with open({sink!r}, 'a', encoding='utf-8') as fh:",
             "        fh.write(line + '\\n')"]
    for name in aliases:
        lines += [f"def {name}(*args, **kwargs):", "    if not kwargs:", "        _adiff_trace(args)",
                  f"    return {entry_point}(*args, **kwargs)"]
    return "\n".join(lines) + "\n"


def traced_inputs(sandbox, task: Task, limits: Limits, seed: int) -> list[tuple]:
    """Argument tuples the task's own tests pass to its entry point's forwarders (HumanEval's
    ``candidate``) when the reference runs them in the sandbox -- also computed ones
    (``candidate(encode_cyclic(s))``, a loop over random polynomials): the judge, not the
    program, records them. Unique, in call order, at most :data:`MAX_TRACED`."""
    from adiff_env.sandbox.codec import decode

    aliases = [n for n in _aliases(task.setup, task.entry_point) if n != task.entry_point]
    if not aliases or not task.tests:
        return []
    fd, sink = tempfile.mkstemp(prefix="adiff-trace-", suffix=".jsonl")
    os.close(fd)
    try:
        sandbox.run(task.solution, list(task.tests), replace(limits, test_s=max(limits.test_s, 10.0)),
                    entry_point=task.entry_point,
                    setup=_trace_setup(task.setup, aliases, task.entry_point, sink, f"trace:{seed}:{task.task_id}"))
        with open(sink, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    finally:
        os.unlink(sink)
    out: list[tuple] = []
    seen: set[str] = set()
    for line in lines:
        try:
            args = tuple(decode(json.loads(line)))
        except (ValueError, TypeError):
            continue
        key = typed_key(args)
        if is_plain(args) and key not in seen:
            seen.add(key)
            out.append(args)
            if len(out) >= MAX_TRACED:
                break
    return out


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


def _test_source(entry_point: str, args: tuple, expected: object) -> str:
    call = _call(entry_point, args)
    if type(expected) is float:
        tol = 1e-6 * max(1.0, abs(expected))
        return f"assert abs({call} - {expected!r}) <= {tol!r}"
    return f"assert {call} == {expected!r}"


def _probe_order(pool: list[Candidate]) -> list[int]:
    """Pool indices with the kinds taken in turn (kinds in order of first appearance, each in draw order)."""
    by_kind: dict[str, list[int]] = {}
    for i, cand in enumerate(pool):
        by_kind.setdefault(cand.kind, []).append(i)
    queues = [q[::-1] for q in by_kind.values()]
    out: list[int] = []
    while queues:
        out += [q.pop() for q in queues]
        queues = [q for q in queues if q]
    return out


def _select(kept: list, config: AugmentConfig) -> list[tuple[Candidate, str]]:
    """The ``per_task`` tests to keep, in draw order: ``select="drawn"`` takes the first ones;
    ``"diverse"`` groups the inputs by expected value (its encoding) and takes one of each group
    in turn (groups in order of first appearance, members in draw order) -- so a boolean task
    keeps as many ``True`` as ``False`` answers where it can, and a task with many outputs keeps
    many distinct ones rather than a run of the same value."""
    if config.select == "drawn":
        return [(c, t) for c, t, _ in kept[: config.per_task]]
    groups: dict[str, list[int]] = {}
    for i, (_, _, value) in enumerate(kept):
        groups.setdefault(value, []).append(i)
    queues = [list(reversed(members)) for members in groups.values()]
    chosen: list[int] = []
    while len(chosen) < config.per_task and queues:
        for q in queues:
            if q and len(chosen) < config.per_task:
                chosen.append(q.pop())
        queues = [q for q in queues if q]
    return [(kept[i][0], kept[i][1]) for i in sorted(chosen)]


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
    base = getattr(sandbox, "limits", None)  # keep the sandbox's container limits (Docker cannot change them)
    limits = replace(base if isinstance(base, Limits) else Limits(), wall_s=max(60.0, config.test_s * PROBE_BATCH),
                     test_s=config.test_s)
    if config.trace:
        known = {typed_key(s.args) for s in seeds}
        traced = [Seed(a, None) for a in traced_inputs(sandbox, task, limits, config.seed) if typed_key(a) not in known]
        summary.traced_seeds += len(traced)
        seeds += traced
    if not seeds:
        summary.skipped[task.task_id] = "no test calls the entry point with literal or traced arguments"
        return task
    rng = random.Random(f"augment:{config.seed}:{task.task_id}")
    hints = hints_from(task.solution) if config.hints else None
    pool: list[Candidate] = candidates(seeds, rng, config.pool_factor * config.per_task, hints)
    summary.candidates += len(pool)
    order = _probe_order(pool)  # kinds interleaved: a kind the reference is slow on cannot use up the timeouts
    inputs = [pool[i].args for i in order]
    first = _probe_values(sandbox, task, inputs, limits)
    again = [i for i, (reason, _) in enumerate(first) if reason == "ok"]  # the second run: only what passed
    second: list[tuple[str, str | None]] = [("not probed again", None)] * len(inputs)
    for i, outcome in zip(again, _probe_values(sandbox, task, [inputs[i] for i in again], limits)):
        second[i] = outcome
    back = sorted(range(len(order)), key=order.__getitem__)  # probe position of each pool index
    first, second = [first[k] for k in back], [second[k] for k in back]
    kept: list = []  # (candidate, test source, encoded expected value)
    for cand, (r1, v1), (r2, v2) in zip(pool, first, second):
        reason = r1 if r1 != "ok" else r2 if r2 != "ok" else None
        if reason is None and v1 != v2:
            reason = "reference not deterministic"
        test = None
        if reason is None:
            expected = decode(json.loads(v1))
            if not finite(expected):
                reason = "expected value not finite"
            else:
                test = _test_source(task.entry_point, cand.args, expected)
                if len(repr(expected)) > config.max_expected_chars:
                    reason = "expected value too long"
        if reason is not None:
            summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
            continue
        kept.append((cand, test, v1))
    kept = _select(kept, config)
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
