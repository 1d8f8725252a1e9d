"""The structured input generators of `adiff code tasks augment` (augment_structured.py, traced seeds)
and the equivalence oracle of its mutant benchmark (equivalence.py)."""

import random
import warnings

import pytest

from adiff_env.code.tasks import Task
from adiff_env.code.tasks.augment import AugmentConfig, augment_task
from adiff_env.code.tasks.augment_candidates import KINDS, candidates
from adiff_env.code.tasks.augment_inputs import Seed, typed_key
from adiff_env.code.tasks.augment_structured import (
    Hints,
    chain_args,
    hints_from,
    small_like,
    structured_args,
    structured_value,
)
from adiff_env.code.tasks.equivalence import OracleConfig, build_oracle, same_answer, witness
from adiff_env.sandbox import make_sandbox


@pytest.fixture(scope="module")
def sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb = make_sandbox("process")
    yield sb
    sb.close()


def _task(name, solution, tests, forwarder=True):
    """A HumanEval-shaped task: tests call `candidate`, a plain forwarder bound in setup."""
    setup = f"def candidate(*args, **kwargs):\n    return {name}(*args, **kwargs)" if forwarder else ""
    call = "candidate" if forwarder else name
    return Task(task_id=f"planted/{name}", prompt=f"def {name}(...):\n", entry_point=name, setup=setup,
                solution=solution, tests=tuple(t.replace("F(", f"{call}(") for t in tests))


def _judge(sandbox, task, program):
    return sandbox.run(program, list(task.tests), setup=task.setup, entry_point=task.entry_point)


# one planted bug per new generator kind: each wrong program passes the given tests
PLANTED = {
    # structured, constant: a number inside a string (hour 24 and minute 60 are not valid; the given
    # tests never reach them)
    "number in a string": (_task("valid_time", "def valid_time(t):\n    h, m = t.split(':')\n"
                                 "    return 0 <= int(h) < 24 and 0 <= int(m) < 60\n",
                                 ["assert F('07:30') == True", "assert F('31:00') == False", "assert F('12:75') == False"]),
                           "def valid_time(t):\n    h, m = t.split(':')\n    return 0 <= int(h) <= 24 and 0 <= int(m) <= 60\n"),
    # structured: arguments permuted (the hypotenuse is not always the last side)
    "permuted arguments": (_task("right_angle", "def right_angle(a, b, c):\n    a, b, c = sorted([a, b, c])\n"
                                 "    return a * a + b * b == c * c\n",
                                 ["assert F(3, 4, 5) == True", "assert F(1, 2, 3) == False", "assert F(2, 2, 2) == False"]),
                           "def right_angle(a, b, c):\n    return a * a + b * b == c * c\n"),
    # structured: a character of another class (the given strings hold letters and digits only)
    "other-class characters": (_task("count_digits", "def count_digits(s):\n    return sum(c.isdigit() for c in s)\n",
                                     ["assert F('ab12') == 2", "assert F('x9') == 1", "assert F('zzz') == 0"]),
                               "def count_digits(s):\n    return sum(not c.isalpha() for c in s)\n"),
    # small: ties in a small-range list (the given lists have distinct elements)
    "small-scope ties": (_task("second_largest", "def second_largest(xs):\n    return sorted(set(xs))[-2]\n",
                               ["assert F([1, 7, 3]) == 3", "assert F([40, 10, 20, 30]) == 30"]),
                         "def second_largest(xs):\n    return sorted(xs)[-2]\n"),
}


def test_generators_are_deterministic_by_seed_and_draw_every_kind():
    seeds = [Seed(([3, 1, 2], "ab-12"), 0), Seed(([5], "x-7"), 1)]
    hints = hints_from("def f(xs, s):\n    return len(xs) > 3 and s[0] == '-'\n")
    assert hints == Hints(ints=(-1, 0, 1, 2, 3, 4), chars="-")
    one = candidates(seeds, random.Random(5), 120, hints)
    two = candidates(seeds, random.Random(5), 120, hints)
    other = candidates(seeds, random.Random(6), 120, hints)
    assert one == two and one != other
    assert {c.kind for c in one} == {"boundary", *KINDS}
    assert len({typed_key(c.args) for c in one}) == len(one) == 120  # distinct, none equal to a seed
    assert not {typed_key(s.args) for s in seeds} & {typed_key(c.args) for c in one}


def test_structured_changes_keep_the_shape():
    rng = random.Random(0)
    dates = {structured_value("06-04-2020", rng)[0] for _ in range(300)}
    # a number changed in place, the separators and the zero-padded width kept
    assert any(d.startswith("06-31-") or d.startswith("06-30-") for d in dates)
    assert all(type(d) is str for d in dates)
    rows = [structured_args(([[1, 2], [3, 4]],), rng)[0][0] for _ in range(100)]
    assert all(type(r) is list and all(type(x) in (list, tuple) for x in r) for r in rows)  # still a nested list
    perms = {structured_args((3, 4, 5), rng)[0] for _ in range(200)}
    assert (5, 4, 3) in perms or (5, 3, 4) in perms or (4, 5, 3) in perms
    lists = [structured_value([3, 1, 2], rng)[0] for _ in range(200)]
    assert [1, 2, 3] in lists and [3, 2, 1] in lists and any(len(set(v)) < len(v) for v in lists)
    small = [small_like([10, 20], rng) for _ in range(200)]
    assert [] in small and all(type(x) is int for v in small for x in v)
    assert sum(all(-3 <= x <= 12 for x in v) for v in small) > 100  # mostly small-scope elements
    assert any(len(v) > len(set(v)) for v in small)  # ties appear
    args, note = chain_args((4, "ab"), rng)
    assert type(args) is tuple and len(args) == 2 and note.count(";") >= 1


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_bug_of_each_new_kind_is_caught(sandbox, kind):
    task, wrong = PLANTED[kind]
    assert _judge(sandbox, task, task.solution).all_passed
    assert _judge(sandbox, task, wrong).all_passed  # the given tests let the wrong program through
    aug = augment_task(task, sandbox, AugmentConfig(per_task=30))
    assert _judge(sandbox, aug, aug.solution).all_passed  # the reference passes every added test
    result = _judge(sandbox, aug, wrong)
    assert not result.all_passed, kind
    assert all(t.index >= len(task.tests) for t in result.tests if not t.passed)  # only added tests catch it
    again = augment_task(task, sandbox, AugmentConfig(per_task=30))
    assert again.tests == aug.tests and again.meta == aug.meta  # deterministic by seed


def test_traced_seeds_augment_a_task_whose_tests_compute_their_arguments(sandbox):
    # no literal call: the old generators had no seed and kept the task unchanged
    task = _task("rotate", "def rotate(xs, k):\n    k = k % len(xs) if xs else 0\n    return xs[k:] + xs[:k]\n",
                 ["import random\nfor _ in range(5):\n    xs = [random.randint(0, 9) for _ in range(4)]\n"
                  "    assert F(xs, 0) == xs"])
    wrong = "def rotate(xs, k):\n    return xs\n"
    assert _judge(sandbox, task, wrong).all_passed
    aug = augment_task(task, sandbox, AugmentConfig(per_task=20))
    assert len(aug.tests) > 1 and _judge(sandbox, aug, aug.solution).all_passed
    assert not _judge(sandbox, aug, wrong).all_passed
    assert augment_task(task, sandbox, AugmentConfig(per_task=20)).tests == aug.tests  # random seeded: same seeds
    assert augment_task(task, sandbox, AugmentConfig(per_task=20, trace=False)) is task


def test_diverse_selection_keeps_both_answers_of_a_boolean_task(sandbox):
    task, _ = PLANTED["number in a string"]
    for select in ("diverse", "drawn"):
        aug = augment_task(task, sandbox, AugmentConfig(per_task=12, select=select))
        answers = [t.rsplit("==", 1)[1].strip() for t in aug.tests[len(task.tests):]]
        if select == "diverse":
            assert answers.count("True") >= 3 and answers.count("False") >= 3, answers
    with pytest.raises(ValueError, match="select must be 'diverse' or 'drawn', got 'best'"):
        AugmentConfig(select="best")


def test_oracle_tells_equivalent_from_wrong_mutants():
    task = _task("top2", "def top2(xs):\n    return sorted(list(xs))[-2:]\n", ["assert F([1, 5, 3]) == [3, 5]"])
    oracle = build_oracle(task, OracleConfig(inputs=200))
    assert len(oracle.inputs) > 50 and len(oracle.inputs) == len(oracle.expected)
    assert witness(task, oracle, "def top2(xs):\n    return sorted(xs)[-2:]\n") is None  # list(xs) -> xs: equivalent
    found = witness(task, oracle, "def top2(xs):\n    return sorted(xs)[-3:]\n")
    assert found is not None and len(found[0]) >= 3  # a witness input: a list of three or more
    assert witness(task, oracle, "def top2(xs):\n    raise ValueError\n") is not None
    assert same_answer(0.1 + 0.2, 0.3) and not same_answer(0.3, 0.31) and not same_answer([1], [1, 2])
    with pytest.raises(ValueError, match="inputs must be an integer >= 0, got -1"):
        OracleConfig(inputs=-1)


def test_reviewed_witnesses_each_tell_a_mutant_from_the_reference():
    """Every hand-found witness of benchmarks/data/augment_witnesses.json is an input the reference
    answers and on which some first-order mutant of that task's reference differs."""
    import ast
    import json
    from pathlib import Path

    from adiff_env.code.tasks import load_tasks
    from adiff_env.code.tasks.mutation import mutants

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "augment_witnesses.json"
    reviewed = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
    tasks = {t.task_id: t for t in load_tasks("humaneval") if t.task_id in reviewed}
    assert reviewed and set(tasks) == set(reviewed)
    for task_id, literals in reviewed.items():
        task = tasks[task_id]
        for literal in literals:
            args = ast.literal_eval(literal)
            assert type(args) is tuple, (task_id, literal)
            oracle = build_oracle(task, OracleConfig(inputs=0), [args])
            assert args in oracle.inputs, (task_id, literal)  # the reference answers it, the same twice
            just_it = type(oracle)(task_id, [args], [oracle.expected[oracle.inputs.index(args)]])
            assert any(witness(task, just_it, m.source) == args for m in mutants(task.solution)), (task_id, literal)
