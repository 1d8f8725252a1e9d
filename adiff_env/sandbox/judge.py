"""The trusted judge: run a task's tests here, with the entry point bound to a stub.

The program's process (a :class:`~adiff_env.sandbox.session.Session`) only loads the program
and answers calls with plain data. This module, in the caller's process (outside the
container; for ``ProcessSandbox`` another process, see its docstring), executes the task's
``setup`` and each test statement in a namespace of its own where ``entry_point`` is a
:class:`Stub`: calling it encodes the arguments (:mod:`adiff_env.sandbox.codec`), sends them,
waits for the one reply with the test's deadline, and returns the decoded value -- a fresh
object of a builtin type, so every ``==``, ``is``, ``isinstance`` and checker line of the test
runs on trusted data. Errors the program raised come back as the builtin exception of that
name (else :class:`ProgramError`); nothing of the program's is executed here.

A test fails closed: on a timeout, a protocol violation or the process dying, the session is
killed (from outside) and the test fails whatever the test code did with the exception (a bare
``except:`` cannot swallow it). The next test gets a fresh process with the program loaded
again, at most :data:`MAX_RESTARTS` times per run. Tests listed in ``fallback`` run the old
way -- inside the program's process (``exec`` op) -- and are flagged ``trusted=False``.
"""

from __future__ import annotations

import ast
import builtins
import re
import time
from collections.abc import Callable, Collection
from functools import lru_cache

from adiff_env.sandbox.base import ExecResult, Limits, TestOutcome
from adiff_env.sandbox.codec import Unencodable, WireError, decode, encode
from adiff_env.sandbox.session import EXITED, TIMEOUT, Session, SessionDead

MESSAGE_CHARS = 500
MAX_RESTARTS = 2  # fresh program processes per run after one died (timeout, crash, violation)
END_GRACE_S = 2.0  # time for the runner's "bye" after the last test
_EXCEPTIONS = {n: c for n, c in vars(builtins).items()
               if isinstance(c, type) and issubclass(c, Exception) and not issubclass(c, Warning)}


class ProgramError(Exception):
    """The program raised an exception that is not a builtin one (its type name and message)."""


class _Broken(BaseException):
    """Raised out of a stub when the session died; the judge fails the test whatever happens."""


@lru_cache(maxsize=4096)
def _compile(source: str, name: str):
    return compile(source, name, "exec", dont_inherit=True)


def limits_message(limits: Limits, *, rlimit_nproc: bool = False) -> dict:
    """The ``limits`` of the runner's ``load`` request (rlimits the runner sets on itself)."""
    return {
        "output_bytes": limits.output_bytes,
        "memory_bytes": limits.memory_mb << 20,
        "fsize_bytes": limits.workdir_mb << 20,
        "nproc": limits.pids if rlimit_nproc else None,
        "cpu_s": int(limits.wall_s) + 2,
        "message_chars": MESSAGE_CHARS,
    }


class Stub:
    """Stands for the program's function ``name`` in the trusted namespace."""

    def __init__(self, judge: _Run, name: str) -> None:
        self._judge, self.__name__ = judge, name

    def __repr__(self) -> str:
        return f"<program function {self.__name__}>"

    def __call__(self, *args, **kwargs):
        run = self._judge
        if run.broken is not None or run.session is None:
            raise _Broken()
        try:
            message = {"op": "call", "fn": self.__name__, "args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        except Unencodable as exc:
            raise Unencodable(f"the test passes an argument the stub cannot send: {exc}") from None
        try:
            reply = run.session.request(message, run.deadline)
        except SessionDead as dead:
            run.broken = dead
            raise _Broken() from None
        if reply["ok"]:
            try:
                return decode(reply.get("value"))
            except WireError as exc:
                run.broken = run.session._die("ProtocolError", f"the program returned malformed data ({exc})")
                raise _Broken() from None
        name, text = reply["error_type"][:100], reply.get("message", "")[:MESSAGE_CHARS]
        cls = _EXCEPTIONS.get(name)
        raise cls(text) if cls is not None and cls is not ProgramError else ProgramError(f"{name}: {text}")


class _Literal(Exception):
    pass


_CONST = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.operator, ast.unaryop,
          ast.Load, ast.Expression)


def _literal(node: ast.AST) -> object:
    """The value of a literal or constant expression (``3 * 19``, ``'ab' + 'c'``) of a trusted test."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if not all(isinstance(n, _CONST) for n in ast.walk(node)):
        raise _Literal()
    try:  # only constants and operators: what the test itself would compute when it runs
        return eval(compile(ast.Expression(node), "<arg>", "eval"), {"__builtins__": {}})  # noqa: S307
    except Exception:  # noqa: BLE001
        raise _Literal() from None


_NO_PIPE = (ast.BoolOp, ast.IfExp, ast.Lambda, ast.comprehension, ast.ListComp, ast.SetComp, ast.DictComp,
            ast.GeneratorExp, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)


@lru_cache(maxsize=8192)
def _planned_call(source: str, names: frozenset[str], entry_point: str) -> tuple[bool, str | None]:
    """``(simple, call)``: whether test ``source`` is one ``assert`` that calls the program at
    most once, unconditionally, with literal arguments -- then ``call`` is the JSON of that call
    (``None`` for no call) -- so its request can be sent ahead of the test."""
    import json

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False, None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return False, None
    msg = tree.body[0].msg  # evaluated only when the assert fails: it must not call the program
    if msg is not None and any(isinstance(n, (ast.Call, ast.Name)) for n in ast.walk(msg)):
        return False, None
    calls = []
    for node in ast.walk(tree.body[0].test):
        if isinstance(node, _NO_PIPE) or (isinstance(node, ast.Compare) and len(node.ops) > 1):
            return False, None  # parts that may not run: the call might not happen
        if isinstance(node, ast.Name) and node.id in names and not isinstance(node.ctx, ast.Load):
            return False, None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
            calls.append(node)
    named = [n for n in ast.walk(tree.body[0].test) if isinstance(n, ast.Name) and n.id in names]
    if len(calls) > 1 or len(named) != len(calls):
        return False, None
    if not calls:
        return True, None
    call = calls[0]
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return False, None
    try:
        args = [_literal(a) for a in call.args]
        kwargs = {k.arg: _literal(k.value) for k in call.keywords}
        message = {"op": "call", "fn": entry_point, "args": encode(args), "kwargs": encode(kwargs)}
    except (_Literal, Unencodable):
        return False, None
    return True, json.dumps(message)


def _aliases(setup: str, entry_point: str) -> frozenset[str]:
    """``entry_point`` and the names ``setup`` binds as plain forwarders to it (HumanEval's
    ``def candidate(*args, **kwargs): return ENTRY(*args, **kwargs)``)."""
    pattern = rf"^def (\w+)\(\*args, \*\*kwargs\):\n    return {re.escape(entry_point)}\(\*args, \*\*kwargs\)$"
    return frozenset({entry_point, *re.findall(pattern, setup, flags=re.M)})


def pipeline_plan(tests: list[str], setup: str, entry_point: str | None, fallback: Collection[int]) -> list[dict] | None:
    """The requests of every test, in order, when each can be sent ahead (see :func:`_planned_call`;
    fallback tests are ``exec`` requests); ``None`` when some test's calls depend on the run."""
    import json

    if entry_point is None:
        return [{"op": "exec", "source": t, "test": i} for i, t in enumerate(tests)]
    names = _aliases(setup, entry_point)
    plan: list[dict] = []
    for index, source in enumerate(tests):
        if index in fallback:
            plan.append({"op": "exec", "source": source, "test": index})
            continue
        simple, call = _planned_call(source, names, entry_point)
        if not simple:
            return None
        if call is not None:
            plan.append({**json.loads(call), "test": index})
    return plan


class _Run:
    """State of one judged run."""

    def __init__(self, open_session: Callable[[], Session], limits: Limits, program: str, limits_msg: dict,
                 plan: list[dict] | None = None) -> None:
        self.open_session, self.limits, self.program, self.limits_msg = open_session, limits, program, limits_msg
        self.plan = plan  # requests sent ahead with the first load (then one round trip per run)
        self.ahead_for_test: dict[int, dict] = {}  # test index -> the very request sent ahead for it
        self.session: Session | None = None
        self.sessions: list[Session] = []
        self.broken: SessionDead | None = None
        self.deadline = 0.0
        self.restarts = 0

    def load(self, deadline: float) -> dict | None:
        """A fresh process with the program loaded; its load reply, or None if it died."""
        self.session = self.open_session()
        self.sessions.append(self.session)
        load = {"op": "load", "program": self.program, "limits": self.limits_msg}
        try:
            if self.plan is not None and len(self.sessions) == 1:
                ahead = [{k: v for k, v in m.items() if k != "test"} for m in self.plan]
                self.ahead_for_test = {m["test"]: sent for m, sent in zip(self.plan, ahead)}
                self.session.send_ahead([load, *ahead, {"op": "end"}], deadline)
            return self.session.request(load, deadline)
        except SessionDead as dead:
            self.broken = dead
            return None


def _failed(index: int, kind: str, message: str, trusted: bool) -> TestOutcome:
    return TestOutcome(index, False, kind, message[:MESSAGE_CHARS], trusted=trusted)


def judge(
    program: str, tests: list[str], limits: Limits, open_session: Callable[[], Session], *, setup: str = "",
    entry_point: str | None = None, fallback: Collection[int] = (), rlimit_nproc: bool = False, pipeline: bool = True,
) -> tuple[ExecResult, list[Session]]:
    """Judge ``program`` on ``tests``; returns the result and every session it opened.

    ``entry_point=None`` runs every test the old way (in the program's process, untrusted);
    otherwise each test index not in ``fallback`` runs here with ``entry_point`` stubbed.
    ``pipeline``: where every test's call is known before it runs (one unconditional call with
    literal arguments per ``assert``), send all requests with the load, so a run costs one round
    trip; the stub still checks each call against what was sent and reads its own reply. (A
    call sent ahead runs even where its test raises before reaching it; only a program that
    keeps state between calls can tell.)
    """
    start = time.monotonic()
    deadline = start + limits.wall_s
    run = _Run(open_session, limits, program, limits_message(limits, rlimit_nproc=rlimit_nproc),
               pipeline_plan(tests, setup, entry_point, fallback) if pipeline else None)
    loaded = run.load(deadline)
    while loaded is None and run.broken.kind != TIMEOUT and run.restarts < MAX_RESTARTS:  # type: ignore[union-attr]
        run.restarts += 1  # the process died before answering (the program, or a container that went away)
        run.broken = None
        loaded = run.load(deadline)
    compiled = bool(loaded and loaded["ok"])
    load_note = "" if loaded is None or loaded["ok"] else f"[program] {loaded['error_type']}: {loaded.get('message', '')}"
    error = None
    namespace: dict = {"__name__": "__judge__", "__builtins__": builtins}
    if entry_point is not None:
        namespace[entry_point] = Stub(run, entry_point)
        if setup:
            try:
                exec(_compile(setup, "<setup>"), namespace)  # noqa: S102 - the task's own trusted code
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a broken task, not the program's fault: say so
                error = f"the task's setup failed: {type(exc).__name__}: {exc}"[:MESSAGE_CHARS]
        namespace[entry_point] = Stub(run, entry_point)
    outcomes: list[TestOutcome] = []
    for index, source in enumerate(tests):
        trusted = entry_point is not None and index not in fallback
        now = time.monotonic()
        if error is not None:
            outcomes.append(_failed(index, "SetupError", error, trusted))
            continue
        if now >= deadline:
            outcomes.append(_failed(index, TIMEOUT, "time limit exceeded", trusted))
            continue
        if run.broken is not None:
            if loaded is None or run.restarts >= MAX_RESTARTS:
                kind = run.broken.kind if run.broken.kind == TIMEOUT else "NotRun"
                outcomes.append(_failed(index, kind, run.broken.message, trusted))
                continue
            run.restarts += 1
            run.broken = None
            if run.load(deadline) is None:
                outcomes.append(_failed(index, run.broken.kind, run.broken.message, trusted))
                continue
        now = time.monotonic()  # after any restart: the test's own budget starts here
        run.deadline = min(deadline, now + limits.test_s) if limits.test_s else deadline
        outcomes.append(_one_test(run, namespace, index, source, trusted))
        _drain_ahead(run, index)
    dead = [s.dead for s in run.sessions if s.dead is not None]  # died while judging (not while ending)
    for session in run.sessions:
        session.finish(min(time.monotonic() + END_GRACE_S, deadline + END_GRACE_S))
    wall = time.monotonic() - start
    first_dead = run.sessions[-1].dead if loaded is None else None  # why the program never loaded
    timed_out = any(t.error_type == TIMEOUT for t in outcomes) or (first_dead is not None and first_dead.kind == TIMEOUT)
    if dead and wall >= limits.wall_s:
        timed_out = True  # the wall deadline was reached, however the process ended
    if first_dead is not None:
        error = first_dead.message
    elif dead and not timed_out and error is None:
        error = "; ".join(sorted({d.message for d in dead}))[:MESSAGE_CHARS]
    stdout = "".join(s.stdout for s in run.sessions)[: limits.output_bytes]
    stderr = "".join(s.stderr for s in run.sessions)[: limits.output_bytes]
    notes = [load_note] if load_note else []
    leftovers = sum(s.leftovers for s in run.sessions)
    if leftovers:
        notes.append(f"[sandbox] killed {leftovers} process(es) the program left running")
    if notes:
        stderr = "\n".join(([stderr.rstrip("\n")] if stderr else []) + notes)
    oom = any(s.oom for s in run.sessions) or (loaded is not None and loaded.get("error_type") == "MemoryError") or any(
        t.error_type == "MemoryError" for t in outcomes)
    result = ExecResult(
        tests=tuple(outcomes), stdout=stdout, stderr=stderr, wall_s=wall, compiled=compiled, timed_out=timed_out,
        oom=oom, output_truncated=any(s.out_bytes > limits.output_bytes or s.err_bytes > limits.output_bytes
                                      for s in run.sessions),
        error=error, tests_total=len(tests), restarts=run.restarts,
    )
    return result, run.sessions


def _drain_ahead(run: _Run, index: int) -> None:
    """If test ``index`` did not make the call sent ahead for it (it raised first), take that
    reply now, so the next test's call meets its own."""
    session, planned = run.session, run.ahead_for_test.get(index)
    if session is None or session.dead is not None or not session._ahead or planned is None:
        return
    if session._ahead[0][1] is planned:  # this very request, not an equal one of a later test
        try:
            session.request(planned, run.deadline)
        except SessionDead as dead:
            run.broken = dead


def _one_test(run: _Run, namespace: dict, index: int, source: str, trusted: bool) -> TestOutcome:
    """Run test ``index``: here with the stub (``trusted``) or in the program's process."""
    if not trusted:
        try:
            reply = run.session.request({"op": "exec", "source": source}, run.deadline)  # type: ignore[union-attr]
        except SessionDead as dead:
            run.broken = dead
            return _failed(index, dead.kind, dead.message, False)
        if reply["ok"]:
            return TestOutcome(index, True, trusted=False)
        return _failed(index, reply["error_type"][:100], reply.get("message", ""), False)
    try:
        code = _compile(source, f"<test {index}>")
    except SyntaxError as exc:
        return _failed(index, "SyntaxError", f"the test does not compile: {exc}", True)
    try:
        exec(code, namespace)  # noqa: S102 - the task's own trusted test
    except _Broken:
        pass
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a failed test, whatever it raised
        if run.broken is None:
            text = str(exc)
            if not text and isinstance(exc, AssertionError):
                text = "assertion failed: " + source.strip()
            return _failed(index, type(exc).__name__, text, True)
    if run.broken is not None:
        return _failed(index, run.broken.kind, run.broken.message, True)
    if time.monotonic() > run.deadline:  # the trusted side itself ran past the deadline
        return _failed(index, TIMEOUT, "time limit exceeded", True)
    return TestOutcome(index, True, trusted=True)


__all__ = ["judge", "Stub", "ProgramError", "limits_message", "MAX_RESTARTS", "EXITED"]
