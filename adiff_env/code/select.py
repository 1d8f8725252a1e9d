"""Choosing which candidate program to submit: cheap checks, behaviour votes, test feedback.

A code agent samples several candidate programs per attempt; this module picks one, the same
way for the diffusion coder and the autoregressive baseline:

1. static checks (no execution): the program parses and defines the entry point named in the
   prompt's ``def NAME(`` line (:func:`static_check`);
2. behaviour votes (CodeT / AlphaCode-style clustering): every distinct candidate runs in the
   sandbox on *probe inputs* drawn from the signature's type hints (``list[int]``, ``str``,
   ``int``); candidates that print the same outputs form one cluster, and a bigger cluster is a
   stronger vote (:func:`probe_tests`, :func:`behaviour_key`);
3. feedback: after a failed attempt the env's feedback shows the failed ``assert`` statements;
   they are run on the remaining candidates, and the candidate passing most of them wins
   (:func:`failed_tests_from_feedback`).

Candidates already submitted in the episode are never submitted again.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

_DEF_RE = re.compile(r"^\s*def\s+([A-Za-z_][A-Za-z_0-9]*)\s*\((.*)\)\s*(?:->\s*(.+?))?\s*:\s*$", re.M)
_FAILED_RE = re.compile(r"^(?:public )?test \d+ failed: (assert .*) -> .*$")
PROBE_MARK = "@@probe"

# probe inputs per type hint: small, deterministic, covering empty / short / long / negative
PROBES: dict[str, tuple[object, ...]] = {
    "list[int]": ([], [4], [5, -2, 7, 0, 11, -8, 4], list(range(1, 13)), [-3, -3, 6, 6, 9, 2], [20, 15, 10, 5, 0, -5]),
    "str": ("", "a", "hello world", "the quick brown fox jumps over", "ab cd  ef", "Mississippi river stone"),
    "int": (0, 1, 7, 25, -4, 123),
}


@dataclass
class Candidate:
    """One sampled program. ``score``: the sampler's mean log-probability of its tokens;
    ``ok``: parses and defines the entry point; ``votes``: samples with the same normalized
    source; ``cluster``: size of its behaviour cluster; ``feedback_passed``: revealed tests passed."""

    program: str
    score: float = 0.0
    ok: bool = False
    votes: int = 1
    cluster: int = 0
    feedback_passed: int = 0
    key: str = ""
    behaviour: tuple = field(default_factory=tuple)


def parse_signature(prompt: str) -> tuple[str, list[str], str | None] | None:
    """``(entry_point, [arg type hints], return hint)`` of the last ``def`` line in the prompt."""
    matches = list(_DEF_RE.finditer(prompt))
    if not matches:
        return None
    m = matches[-1]
    hints = []
    for arg in _split_args(m.group(2)):
        _, _, hint = arg.partition(":")
        hints.append(hint.split("=")[0].strip())
    return m.group(1), hints, (m.group(3) or None)


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[(" and 1 or (-1 if ch in "])" else 0)
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [a for a in (out + [cur.strip()]) if a]


def entry_point_of(prompt: str) -> str | None:
    sig = parse_signature(prompt)
    return sig[0] if sig else None


def normalized_source(program: str) -> str | None:
    """``ast.dump`` of the program (formatting and comments ignored), or None if it does not parse."""
    try:
        return ast.dump(ast.parse(program))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def static_check(program: str, entry_point: str | None) -> bool:
    """The program parses and (if an entry point is named) defines it at the top level."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if entry_point is None:
        return True
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point for n in tree.body)


def probe_tests(prompt: str, max_probes: int = 6) -> list[str]:
    """Statements printing the entry point's output on probe inputs (empty if the hints are unknown)."""
    sig = parse_signature(prompt)
    if sig is None:
        return []
    name, hints, _ = sig
    if not hints or any(h not in PROBES for h in hints):
        return []
    calls = []
    for i in range(max_probes):
        args = [PROBES[h][(i + j) % len(PROBES[h])] for j, h in enumerate(hints)]
        calls.append(f"print({PROBE_MARK!r}, {i}, repr({name}({', '.join(repr(a) for a in args)})))")
    return calls


def behaviour_key(stdout: str, outcomes: Sequence[bool], n_probes: int) -> tuple:
    """Per probe: the printed output, or ``"<error>"`` where the probe raised."""
    printed: dict[int, str] = {}
    for line in stdout.splitlines():
        if line.startswith(PROBE_MARK + " "):
            _, idx, rest = line.split(" ", 2)
            printed[int(idx)] = rest
    return tuple(printed.get(i, "<error>") if (i < len(outcomes) and outcomes[i]) else "<error>" for i in range(n_probes))


def failed_tests_from_feedback(feedback: str) -> list[str]:
    """The ``assert`` statements the env's feedback reports as failed: public examples (the
    default ``feedback="public"``), or scored tests with ``feedback="full"`` and ``show_tests``."""
    out = []
    for line in feedback.splitlines():
        m = _FAILED_RE.match(line.strip())
        if m:
            out.append(m.group(1))
    return out


def merge_candidates(programs: Sequence[str], scores: Sequence[float], entry_point: str | None) -> list[Candidate]:
    """Distinct candidates (by normalized source) with their vote counts and best scores."""
    by_key: dict[str, Candidate] = {}
    counts: Counter[str] = Counter()
    for program, score in zip(programs, scores, strict=True):
        key = normalized_source(program) or f"<unparsed>{program}"
        counts[key] += 1
        if key not in by_key or score > by_key[key].score:
            by_key[key] = Candidate(program=program, score=float(score), ok=static_check(program, entry_point), key=key)
    for key, cand in by_key.items():
        cand.votes = counts[key]
    return list(by_key.values())


def rank_candidates(cands: Sequence[Candidate], sandbox=None, prompt: str = "", revealed: Sequence[str] = (),
                    limits=None) -> list[Candidate]:
    """Rank best-first: statically OK, most revealed tests passed, biggest behaviour cluster,
    most votes, highest score. ``sandbox`` (any :class:`~adiff_env.sandbox.base.Sandbox`) runs
    the probes and revealed tests; without one only static checks, votes and scores count."""
    cands = list(cands)
    ok = [c for c in cands if c.ok]
    if sandbox is not None and ok:
        probes = probe_tests(prompt)
        tests = probes + list(revealed)
        if tests:
            for c in ok:
                result = sandbox.run(c.program, tests, limits)
                outcomes = [t.passed for t in sorted(result.tests, key=lambda t: t.index)]
                c.behaviour = behaviour_key(result.stdout, outcomes, len(probes)) if probes else ()
                c.feedback_passed = sum(outcomes[len(probes):]) if revealed else 0
            for c in ok:
                all_error = bool(c.behaviour) and all(b == "<error>" for b in c.behaviour)
                c.cluster = 0 if all_error else sum(o.votes for o in ok if o.behaviour == c.behaviour)
    return sorted(cands, key=lambda c: (c.ok, c.feedback_passed, c.cluster, c.votes, c.score), reverse=True)
