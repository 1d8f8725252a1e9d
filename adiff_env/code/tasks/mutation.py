"""Mutation testing of procedural tasks: do the hidden tests reject near-miss programs?

:func:`mutants` makes first-order mutants of a reference program with :mod:`ast`, one change
each:

- ``const``: every integer constant ``c`` becomes ``c - 1`` and ``c + 1`` (off-by-one);
- ``cmp``: every comparison operator is replaced: ``<`` by ``<=``, ``>``, ``>=`` (and so on for
  the other orderings), ``==`` by ``!=`` and back, ``in`` by ``not in`` and back;
- ``arith``: ``+`` <-> ``-``, ``*`` -> ``+`` and ``//``, ``//`` -> ``*`` and ``%``, ``%`` -> ``//``;
- ``bool``: ``and`` <-> ``or``;
- ``bound``: every non-constant slice bound and ``range()`` argument ``e`` becomes ``e - 1``
  and ``e + 1`` (constant ones are already covered by ``const``); a one-sided slice
  ``xs[:e]`` / ``xs[e:]`` is flipped to the other side;
- ``call``: ``min`` <-> ``max``; a one-argument call of ``sorted``, ``abs``, ``list``, ``int``,
  ``str``, ``len``, ``sum``, ``reversed`` or ``set`` is replaced by its argument, and an
  argument-less method call (``c.upper()``, ``s.split()``) by its receiver;
- ``cond``: the condition of a conditional expression or a comprehension filter is negated.

Mutants whose code equals the reference or an earlier mutant (same ``ast.dump``) are dropped.

Equivalence rule (stated, applied to every family alike, no hand-picking): a mutant that
passes every hidden test is run on ``fuzz_runs`` random inputs from the family's fuzzer
(wider and more numerous than the hidden tests). If it agrees with the reference on all of
them, it is counted as *equivalent* and excluded from the kill rate; otherwise it is a
*survivor* -- a wrong program the hidden tests let through. Kill rate =
killed / (mutants - equivalent). The goal is 100% for every family.

Mutants are our own generated code and run in-process with a per-call time guard.
"""

from __future__ import annotations

import ast
import copy
import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from adiff_env.code.tasks.procedural import draw_spec, generate, load_function


@dataclass(frozen=True)
class Mutant:
    operator: str  # "const", "cmp", "arith", "bool", "bound", "call" or "cond"
    description: str  # e.g. "line 2: 7 -> 8"
    source: str


_CMP = {
    ast.Lt: (ast.LtE, ast.Gt, ast.GtE), ast.LtE: (ast.Lt, ast.Gt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt, ast.LtE), ast.GtE: (ast.Gt, ast.Lt, ast.LtE),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
_ARITH = {
    ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Add, ast.FloorDiv),
    ast.FloorDiv: (ast.Mult, ast.Mod), ast.Mod: (ast.FloorDiv,),
}
_BOOL = {ast.And: (ast.Or,), ast.Or: (ast.And,)}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
           ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
           ast.And: "and", ast.Or: "or"}

Edit = tuple[str, str, Callable[[ast.AST], None]]  # (operator, description, in-place edit of the copy)


def _shift(expr: ast.expr, delta: int) -> ast.expr:
    return ast.BinOp(left=expr, op=ast.Add() if delta > 0 else ast.Sub(), right=ast.Constant(abs(delta)))


_DROPPABLE = {"sorted", "abs", "list", "int", "str", "len", "sum", "reversed", "set"}
_SWAP_CALL = {"min": "max", "max": "min"}


def _unwrapped(expr: ast.expr) -> ast.expr | None:
    """What a ``call`` mutant puts in place of ``expr`` (None: no such mutant)."""
    if not isinstance(expr, ast.Call) or expr.keywords:
        return None
    if isinstance(expr.func, ast.Name) and expr.func.id in _DROPPABLE and len(expr.args) == 1:
        return expr.args[0]
    if isinstance(expr.func, ast.Attribute) and not expr.args:
        return expr.func.value
    return None


def _child_edits(node: ast.AST, line: object) -> Iterator[Edit]:
    """Edits that replace a direct child expression of ``node`` (unwrapped calls)."""
    for name, value in ast.iter_fields(node):
        items = value if isinstance(value, list) else [value]
        for i, child in enumerate(items):
            if isinstance(child, ast.expr) and _unwrapped(child) is not None:
                def edit(n, name=name, i=i, is_list=isinstance(value, list)):
                    if is_list:
                        getattr(n, name)[i] = _unwrapped(getattr(n, name)[i])
                    else:
                        setattr(n, name, _unwrapped(getattr(n, name)))
                yield "call", f"line {line}: {ast.unparse(child)} -> {ast.unparse(_unwrapped(child))}", edit


def _edits(node: ast.AST) -> Iterator[Edit]:
    line = getattr(node, "lineno", "?")
    yield from _child_edits(node, line)
    if isinstance(node, ast.IfExp):
        def edit(n):
            n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)
        yield "cond", f"line {line}: negate {ast.unparse(node.test)}", edit
    elif isinstance(node, ast.comprehension):
        for i, cond in enumerate(node.ifs):
            def edit(n, i=i):
                n.ifs[i] = ast.UnaryOp(op=ast.Not(), operand=n.ifs[i])
            yield "cond", f"negate filter {ast.unparse(cond)}", edit
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SWAP_CALL:
        def edit(n):
            n.func = ast.Name(id=_SWAP_CALL[n.func.id], ctx=ast.Load())
        yield "call", f"line {line}: {node.func.id} -> {_SWAP_CALL[node.func.id]}", edit
    if isinstance(node, ast.Constant) and type(node.value) is int:
        for delta in (-1, 1):
            def edit(n, d=delta):
                n.value += d
            yield "const", f"line {line}: {node.value} -> {node.value + delta}", edit
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in _CMP.get(type(op), ()):
                def edit(n, i=i, new=new):
                    n.ops[i] = new()
                yield "cmp", f"line {line}: {_SYMBOL[type(op)]} -> {_SYMBOL[new]}", edit
    elif isinstance(node, (ast.BinOp, ast.BoolOp)):
        table = _ARITH if isinstance(node, ast.BinOp) else _BOOL
        for new in table.get(type(node.op), ()):
            def edit(n, new=new):
                n.op = new()
            kind = "arith" if isinstance(node, ast.BinOp) else "bool"
            yield kind, f"line {line}: {_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}", edit
    elif isinstance(node, ast.Slice):
        for part in ("lower", "upper"):
            bound = getattr(node, part)
            if bound is not None and not isinstance(bound, ast.Constant):
                for delta in (-1, 1):
                    def edit(n, part=part, d=delta):
                        setattr(n, part, _shift(getattr(n, part), d))
                    yield "bound", f"line {line}: slice {part} {ast.unparse(bound)} {delta:+d}", edit
        if (node.lower is None) != (node.upper is None) and node.step is None:
            def edit(n):
                n.lower, n.upper = n.upper, n.lower
            yield "bound", f"line {line}: flip slice {ast.unparse(node)}", edit
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        for i, arg in enumerate(node.args):
            if not isinstance(arg, ast.Constant):
                for delta in (-1, 1):
                    def edit(n, i=i, d=delta):
                        n.args[i] = _shift(n.args[i], d)
                    yield "bound", f"line {line}: range arg {ast.unparse(arg)} {delta:+d}", edit


def mutants(source: str) -> list[Mutant]:
    """All distinct first-order mutants of ``source`` (see the module docstring)."""
    tree = ast.parse(source)
    seen = {ast.dump(tree)}
    out: list[Mutant] = []
    for index, node in enumerate(ast.walk(tree)):
        for operator, description, edit in _edits(node):
            clone = copy.deepcopy(tree)
            target = next(n for i, n in enumerate(ast.walk(clone)) if i == index)
            edit(target)
            ast.fix_missing_locations(clone)
            dump = ast.dump(clone)
            if dump in seen:
                continue
            seen.add(dump)
            out.append(Mutant(operator, description, ast.unparse(clone) + "\n"))
    return out


class _Timeout(Exception):
    pass


@contextmanager
def _time_guard(seconds: float):
    """Raise _Timeout in the block after ``seconds`` (main thread on POSIX; no guard elsewhere)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _outcome(fn: Callable, args: tuple):
    try:
        with _time_guard(1.0):
            return ("ok", fn(*copy.deepcopy(args)))
    except _Timeout:
        return ("timeout", None)
    except Exception as exc:  # a mutant may raise anything
        return ("raise", type(exc).__name__)


def passes_tests(source: str, entry_point: str, tests: tuple[str, ...] | list[str], setup: str = "") -> bool:
    """True when ``source`` passes every test statement (run in-process; trusted code only)."""
    namespace: dict = {}
    try:
        with _time_guard(5.0):
            exec(compile(setup + "\n" + source, "<mutant>", "exec"), namespace)  # noqa: S102
            for test in tests:
                exec(compile(test, "<test>", "exec"), namespace)  # noqa: S102
    except (Exception, _Timeout):
        return False
    return True


@dataclass
class KillReport:
    family: str
    seed: int
    total: int = 0
    killed: int = 0
    equivalent: list[Mutant] = field(default_factory=list)
    survivors: list[Mutant] = field(default_factory=list)

    @property
    def kill_rate(self) -> float:
        live = self.total - len(self.equivalent)
        return self.killed / live if live else 1.0


def kill_report(family: str, seed: int, fuzz_runs: int = 400) -> KillReport:
    """Mutate the reference of ``generate(family, seed)`` and score its hidden tests."""
    task = generate(family, seed)
    spec = draw_spec(family, seed)
    reference = load_function(spec.solution, spec.entry_point)
    rng = random.Random(f"fuzz:{family}:{seed}")
    fuzz_inputs = [spec.fuzz(rng) for _ in range(fuzz_runs)]
    expected = [_outcome(reference, args) for args in fuzz_inputs]
    report = KillReport(family, seed)
    for mutant in mutants(spec.solution):
        report.total += 1
        if not passes_tests(mutant.source, spec.entry_point, task.tests):
            report.killed += 1
            continue
        try:
            fn = load_function(mutant.source, spec.entry_point)
            differs = any(_outcome(fn, a) != e for a, e in zip(fuzz_inputs, expected))
        except Exception:
            differs = True
        (report.survivors if differs else report.equivalent).append(mutant)
    return report
