"""Equivalent mutants, decided one way for every task: agreement with the reference on an oracle set.

A mutant of a task's reference that passes some tests is either *equivalent* (it computes the
same function, so no test can reject it: ``sorted(list(xs))`` -> ``sorted(xs)``) or a wrong
program those tests let through. EvalPlus counts only the non-equivalent ones; so does the
second figure of ``benchmarks/augment_kill_rate.py``. The rule, stated once and applied alike:

1. the **oracle inputs** of a task (:func:`build_oracle`) are its seed inputs (the literal
   arguments of its tests, plus those its tests compute, recorded by running them with a
   recording ``candidate``), the reviewed *witness* inputs (``extra``: inputs a person found
   while checking mutants by hand, kept in ``benchmarks/data/augment_witnesses.json``), and
   ``OracleConfig.inputs`` candidates from the augmentation generators
   (:func:`adiff_env.code.tasks.augment_candidates.candidates`) drawn from their own seed
   (``Random(f"oracle:{seed}:{task_id}")``; the augmentation draws from
   ``Random(f"augment:{seed}:{task_id}")``), several times more than any test set;
2. the reference runs on each oracle input twice (in-process, trusted code, a per-call time
   guard); an input is kept where both runs returned the same finite value -- the same rule
   the augmentation applies before it writes a test, so the oracle's input domain is the
   tests' domain (no contracts: any input the reference answers is an input);
3. a mutant is **non-equivalent** when on some kept input it returns a different value (by
   the tests' comparison: ``==``, floats within ``1e-6 * max(1, |expected|)``), raises, or
   times out -- that input is its *witness* -- and **equivalent** otherwise.

An equivalent verdict is an estimate (no input set proves equivalence); the docs report a
manual check of a sample of the equivalent verdicts next to the figures. Mutants and
references run in this process (our own generated code and the suite's canonical solutions),
as :func:`adiff_env.code.tasks.mutation.passes_tests` does.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from adiff_env.code.tasks.augment_candidates import candidates
from adiff_env.code.tasks.augment_inputs import Seed, finite, is_plain, seed_inputs, typed_key
from adiff_env.code.tasks.augment_structured import hints_from
from adiff_env.code.tasks.base import Task
from adiff_env.code.tasks.mutation import _time_guard, _Timeout

MUTANT_SLACK = 5  # a mutant's time per oracle call, in units of the reference's
MAX_EXPECTED_CHARS = 4000  # AugmentConfig.max_expected_chars: longer answers make no test, nor an oracle entry


@dataclass(frozen=True)
class OracleConfig:
    """``inputs``: generator candidates per task; ``seed``: their seed; ``call_s``: time per call;
    ``max_timeouts``: reference calls that may time out, and ``budget_s``: seconds of reference
    calls, before no more inputs are tried (the seeds and reviewed witnesses come first)."""

    inputs: int = 1500
    seed: int = 1000
    call_s: float = 0.5
    max_timeouts: int = 8
    budget_s: float = 20.0  # reference time per task: no more inputs after it (a slow reference gets fewer)

    def __post_init__(self) -> None:
        if type(self.inputs) is not int or self.inputs < 0:
            raise ValueError(f"OracleConfig.inputs must be an integer >= 0, got {self.inputs!r}.")
        if not (isinstance(self.call_s, (int, float)) and self.call_s > 0):
            raise ValueError(f"OracleConfig.call_s must be a number > 0, got {self.call_s!r}.")


@dataclass
class Oracle:
    """The kept oracle inputs of one task and the reference's value on each (same order)."""

    task_id: str
    inputs: list[tuple] = field(default_factory=list)
    expected: list[object] = field(default_factory=list)
    dropped: int = 0  # oracle inputs the reference raised on, timed out on or answered twice differently
    untried: int = 0  # inputs not tried: the time budget or the timeouts ran out


def _load(task: Task, source: str, call_s: float = 5.0):
    namespace: dict = {"__name__": "__oracle__"}
    with _time_guard(call_s):
        exec(compile(task.setup + "\n" + source, "<oracle>", "exec"), namespace)  # noqa: S102 - trusted code
    return namespace


def _call(fn, args: tuple, call_s: float):
    try:
        with _time_guard(call_s):
            return "ok", fn(*copy.deepcopy(args))
    except _Timeout:
        return "timeout", None
    except RecursionError:
        return "raise", "RecursionError"
    except Exception as exc:  # the reference or a mutant may raise anything
        return "raise", type(exc).__name__


def same_answer(expected: object, got: object) -> bool:
    """The tests' comparison: floats within ``1e-6 * max(1, |expected|)``, else ``==``."""
    try:
        if type(expected) is float:
            return type(got) in (int, float) and abs(got - expected) <= 1e-6 * max(1.0, abs(expected))
        return bool(got == expected)
    except Exception:  # a mutant's value whose == raises
        return False


def traced_seeds(task: Task, call_s: float = 10.0, limit: int = 40) -> list[tuple]:
    """Arguments the task's tests pass to its forwarders (``candidate``), run in-process on the
    reference with the global ``random`` seeded (the in-process twin of ``augment.traced_inputs``)."""
    import re

    pattern = rf"^def (\w+)\(\*args, \*\*kwargs\):\n    return {re.escape(task.entry_point)}\(\*args, \*\*kwargs\)$"
    aliases = re.findall(pattern, task.setup, flags=re.M)
    if not aliases:
        return []
    try:
        namespace = _load(task, task.solution)
    except (Exception, _Timeout):
        return []
    fn = namespace[task.entry_point]
    seen: list[tuple] = []

    def recorder(*args, **kwargs):
        if not kwargs and len(seen) < 10 * limit:
            seen.append(copy.deepcopy(args))
        return fn(*args, **kwargs)

    for name in aliases:
        namespace[name] = recorder
    state = random.getstate()
    random.seed(f"trace:oracle:{task.task_id}")
    try:
        for test in task.tests:
            try:
                with _time_guard(call_s):
                    exec(compile(test, "<test>", "exec"), namespace)  # noqa: S102 - the suite's own tests
            except (Exception, _Timeout):
                continue
    finally:
        random.setstate(state)
    out, keys = [], set()
    for args in seen:
        if is_plain(args) and typed_key(args) not in keys:
            keys.add(typed_key(args))
            out.append(args)
    return out[:limit]


def build_oracle(task: Task, config: OracleConfig = OracleConfig(), extra: Sequence[tuple] = ()) -> Oracle:
    """The oracle inputs of ``task`` with the reference's answers (see the module docstring)."""
    oracle = Oracle(task.task_id)
    if not task.entry_point or not task.solution:
        return oracle
    names = [task.entry_point, "candidate"]
    seeds = seed_inputs(list(task.tests) + list(task.public_tests), names)
    known = {typed_key(s.args) for s in seeds}
    seeds += [Seed(a, None) for a in traced_seeds(task) if typed_key(a) not in known]
    pool = [s.args for s in seeds] + [tuple(a) for a in extra]
    if seeds:
        rng = random.Random(f"oracle:{config.seed}:{task.task_id}")
        pool += [c.args for c in candidates(seeds, rng, config.inputs, hints_from(task.solution))]
    fn = _load(task, task.solution)[task.entry_point]
    timeouts = 0
    start = time.perf_counter()
    keys: set[str] = set()
    for args in pool:
        key = typed_key(args)
        if key in keys:
            continue
        keys.add(key)
        if timeouts >= config.max_timeouts or time.perf_counter() - start > config.budget_s:
            oracle.untried += 1
            continue
        first, second = _call(fn, args, config.call_s), _call(fn, args, config.call_s)
        timeouts += (first[0] == "timeout") + (second[0] == "timeout")
        key = _value_key(first[1]) if first[0] == "ok" and second[0] == "ok" and finite(first[1]) else None
        if key is not None and key == _value_key(second[1]):
            oracle.inputs.append(args)
            oracle.expected.append(first[1])
        else:
            oracle.dropped += 1
    return oracle


def _value_key(value: object) -> str | None:
    """:func:`typed_key` of a value a test could hold (plain, its ``repr`` at most
    ``MAX_EXPECTED_CHARS`` long, as the augmentation keeps), else ``repr`` of it; None when it has none."""
    try:
        key = typed_key(value) if is_plain(value) else f"{type(value).__name__}:{value!r}"
    except (ValueError, RecursionError):  # an int too long to print, a self-containing value
        return None
    return key if len(key) <= 2 * MAX_EXPECTED_CHARS else None


def witness(task: Task, oracle: Oracle, source: str, call_s: float | None = None) -> tuple | None:
    """The first oracle input on which program ``source`` differs from the reference (a
    different value, an exception or a timeout), or None (equivalent on the oracle).
    ``call_s`` (default ``MUTANT_SLACK * OracleConfig.call_s``): the program's time per call,
    more than the reference got, so a mutant no slower than the reference cannot time out
    on a busy machine and pass for a wrong one."""
    call_s = call_s if call_s is not None else MUTANT_SLACK * OracleConfig.call_s
    try:
        fn = _load(task, source)[task.entry_point]
    except (Exception, _Timeout):
        return oracle.inputs[0] if oracle.inputs else ()
    for args, expected in zip(oracle.inputs, oracle.expected):
        status, got = _call(fn, args, call_s)
        if status != "ok" or not same_answer(expected, got):
            return args
    return None
