"""Candidate selection of the code agent: static checks, probe clustering, feedback parsing."""

from __future__ import annotations

import pytest

from adiff_env.code import select as sel
from adiff_env.code.tasks.procedural import generate
from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.process import ProcessSandbox

PROMPT = "Write a Python function take_smallest. Return the 3 smallest values.\n\ndef take_smallest(xs: list[int]) -> list[int]:\n"
GOOD = "def take_smallest(xs):\n    return sorted(xs)[:3]\n"
GOOD_LOOP = "def take_smallest(values):\n    out = sorted(values)\n    return out[:3]\n"
GOOD_LOOP2 = "def take_smallest(xs):\n    result = []\n    for x in sorted(xs):\n        if len(result) < 3:\n            result.append(x)\n    return result\n"
WRONG = "def take_smallest(xs):\n    return sorted(xs)[:4]\n"
CRASH = "def take_smallest(xs):\n    return xs[99]\n"


@pytest.fixture(scope="module")
def sandbox():
    box = ProcessSandbox(Limits(wall_s=5.0, test_s=1.0))
    yield box
    box.close()


def test_parse_signature_and_entry_point():
    assert sel.parse_signature(PROMPT) == ("take_smallest", ["list[int]"], "list[int]")
    assert sel.parse_signature("def f(a: int, b: list[int] = [1, 2]) -> int:") == ("f", ["int", "list[int]"], "int")
    assert sel.parse_signature("no function here") is None
    assert sel.entry_point_of(PROMPT) == "take_smallest"


def test_static_check():
    assert sel.static_check(GOOD, "take_smallest")
    assert not sel.static_check(GOOD, "other_name")
    assert not sel.static_check("def take_smallest(xs):\nreturn 1\n", "take_smallest")  # bad indent
    assert not sel.static_check("x = 1\n", "take_smallest")
    assert sel.static_check("x = 1\n", None)


def test_probe_tests_cover_the_hints():
    probes = sel.probe_tests(PROMPT)
    assert len(probes) == 6 and all(p.startswith("print(") and "take_smallest(" in p for p in probes)
    assert sel.probe_tests("def f(x: dict) -> int:") == []  # no probes for unknown hints
    assert len(sel.probe_tests("def g(s: str, n: int) -> str:", max_probes=3)) == 3


def test_failed_tests_from_feedback_on_a_real_env_step():
    from adiff_env.code.env import CodeTestsEnv

    task = generate("take_smallest", 3)
    env = CodeTestsEnv(tasks=[task], sandbox="process", max_attempts=2)
    try:
        env.reset(seed=0)
        obs, *_ = env.step("def take_smallest(xs):\n    return xs\n")
        public = env.unwrapped._public
    finally:
        env.close()
    revealed = sel.failed_tests_from_feedback(obs["feedback"])  # the public examples it failed (default feedback)
    assert revealed and all(t.startswith("assert take_smallest(") for t in revealed)
    assert set(revealed) <= set(public) and not set(revealed) & set(task.tests)
    assert sel.failed_tests_from_feedback("3/3 tests passed.") == []


def test_merge_counts_votes_by_normalized_source():
    programs = [GOOD, "def take_smallest(xs):\n    # comment\n    return sorted(xs)[:3]\n", WRONG, "def (:"]
    cands = sel.merge_candidates(programs, [-1.0, -0.5, -2.0, -3.0], "take_smallest")
    by_votes = {c.votes for c in cands}
    assert len(cands) == 3 and 2 in by_votes
    merged = next(c for c in cands if c.votes == 2)
    assert merged.score == -0.5 and merged.ok
    assert not next(c for c in cands if c.program == "def (:").ok


def test_rank_prefers_the_biggest_behaviour_cluster(sandbox):
    # three good programs differ in source but behave the same: together they outvote WRONG (2 samples)
    programs = [GOOD, GOOD_LOOP, GOOD_LOOP2, WRONG, WRONG, CRASH, "def (:"]
    cands = sel.merge_candidates(programs, [-1.0] * 7, "take_smallest")
    ranked = sel.rank_candidates(cands, sandbox, PROMPT)
    assert ranked[0].program in (GOOD, GOOD_LOOP, GOOD_LOOP2) and ranked[0].cluster == 3
    crash = next(c for c in ranked if c.program == CRASH)
    assert crash.cluster == 0 and crash.behaviour == ("<error>",) * 6
    assert ranked[-1].program == "def (:"
    # without a sandbox only votes and scores count: WRONG (2 votes) comes first
    assert sel.rank_candidates(sel.merge_candidates(programs, [-1.0] * 7, "take_smallest"))[0].program == WRONG


def test_rank_uses_revealed_tests(sandbox):
    cands = sel.merge_candidates([WRONG, WRONG, WRONG, GOOD], [0.0] * 4, "take_smallest")
    revealed = ["assert take_smallest([5, 4, 3, 2]) == [2, 3, 4]"]
    ranked = sel.rank_candidates(cands, sandbox, PROMPT, revealed)
    assert ranked[0].program == GOOD and ranked[0].feedback_passed == 1
