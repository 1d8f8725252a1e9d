"""Procedural tasks: determinism, split by family, strong hidden tests (mutation kill rate)."""

import warnings

import pytest

from adiff_env.code.tasks.mutation import kill_report, mutants, passes_tests
from adiff_env.code.tasks.procedural import draw_spec, families, generate, load_procedural
from adiff_env.errors import UnknownNameError
from adiff_env.sandbox import make_sandbox

FAMILY_NAMES = [f.name for f in families()]
MUTATION_SEEDS = range(20)


def test_family_catalogue():
    assert len(FAMILY_NAMES) >= 12
    assert {f.kind for f in families()} == {"list", "string", "arithmetic", "counting"}
    train = {f.name for f in families("train")}
    test = {f.name for f in families("test")}
    assert train and test and not train & test and train | test == set(FAMILY_NAMES)
    with pytest.raises(UnknownNameError, match="Known procedural splits: compose-test, compose-train, mixed-train, test, train"):
        families("dev")


def test_suites_split_by_family():
    train = load_procedural("train", count=2)
    test = load_procedural("test", count=2)
    assert {t.meta["family"] for t in train} == {f.name for f in families("train")}
    assert {t.meta["family"] for t in test} == {f.name for f in families("test")}
    assert all(t.meta["split"] == "train" for t in train) and all(t.meta["split"] == "test" for t in test)
    with pytest.raises(UnknownNameError, match="procedural suite"):
        load_procedural("nope")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_deterministic_by_seed(family):
    a, b = generate(family, 7), generate(family, 7)
    assert a == b and a.meta == b.meta and a.prompt == b.prompt
    variety = {generate(family, s).solution for s in range(12)}
    assert len(variety) >= 3  # the seed really draws parameters


def test_bad_family_and_seed():
    with pytest.raises(UnknownNameError, match="Did you mean 'take_smallest'"):
        generate("take_smalest", 0)
    with pytest.raises(TypeError, match="seed must be an int"):
        generate("take_smallest", "0")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_prompt_states_parameters_and_reference_passes(family):
    for seed in range(30):
        task = generate(family, seed)
        assert task.entry_point and f"def {task.entry_point}(" in task.prompt
        for value in task.meta["params"].values():
            assert str(abs(value)) in task.prompt, (task.task_id, value, task.prompt)
        assert len(task.tests) >= 6
        assert passes_tests(task.solution, task.entry_point, task.tests)


def test_references_pass_in_process_sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sandbox = make_sandbox("process")
    try:
        for family in FAMILY_NAMES:
            task = generate(family, 3)
            result = sandbox.run(task.solution, list(task.tests))
            assert result.all_passed, (task.task_id, result)
    finally:
        sandbox.close()


def test_issue_examples_are_rejected():
    """Wrong programs that passed a throwaway generator's weak tests must fail here."""
    for seed in range(30):
        k = draw_spec("take_smallest", seed).params["k"]
        task = generate("take_smallest", seed)
        wrong = f"def take_smallest(xs):\n    return sorted(xs)[:{k + 1}]\n"
        assert not passes_tests(wrong, "take_smallest", task.tests)
        t = draw_spec("count_greater", seed).params["t"]
        task = generate("count_greater", seed)
        for cut in (t - 7, t - 1, t + 1):
            wrong = f"def count_greater(xs):\n    return sum(1 for x in xs if x > {cut})\n"
            assert not passes_tests(wrong, "count_greater", task.tests)


def test_mutant_operators():
    src = "def f(xs, n):\n    return [min(x, 3) for x in sorted(xs)[:n] if x > 1 and x % 2 == 0]\n"
    found = {(m.operator, m.description.split(": ", 1)[-1]) for m in mutants(src)}
    for expected in [("const", "3 -> 4"), ("const", "1 -> 0"), ("cmp", "> -> >="), ("cmp", "== -> !="),
                     ("arith", "% -> //"), ("bool", "and -> or"), ("bound", "slice upper n +1"),
                     ("bound", "flip slice :n"), ("call", "min -> max"), ("call", "sorted(xs) -> xs")]:
        assert expected in found, (expected, sorted(found))
    assert any(op == "cond" for op, _ in found)
    sources = [m.source for m in mutants(src)]
    assert len(sources) == len(set(sources))  # duplicates dropped
    assert all("range(n + 1)" in m.source or "range(n - 1)" in m.source
               for m in mutants("def f(n):\n    return list(range(n))\n") if m.operator == "bound")


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_mutation_kill_rate_is_total(family):
    """Every mutant of the reference that is not equivalent (by the fuzz rule) fails the hidden tests."""
    total = killed = equivalent = 0
    for seed in MUTATION_SEEDS:
        report = kill_report(family, seed)
        assert report.survivors == [], [(seed, m.description, m.source) for m in report.survivors]
        assert report.kill_rate == 1.0
        total, killed, equivalent = total + report.total, killed + report.killed, equivalent + len(report.equivalent)
    assert total >= 2 * len(MUTATION_SEEDS)
    assert equivalent <= 0.05 * total  # the equivalence rule excludes few mutants
    assert killed + equivalent == total


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_style_variants_are_correct(family):
    import random

    from adiff_env.code.tasks.mutation import _outcome
    from adiff_env.code.tasks.procedural import load_function
    from adiff_env.code.tasks.variants import reference_solutions

    for seed in range(15):
        task, spec = generate(family, seed), draw_spec(family, seed)
        programs = reference_solutions(task)
        assert len(programs) >= 3 and len(set(programs)) == len(programs)
        reference = load_function(spec.solution, spec.entry_point)
        rng = random.Random(seed)
        inputs = [spec.fuzz(rng) for _ in range(100)]
        for program in programs[1:]:
            assert passes_tests(program, task.entry_point, task.tests), program
            fn = load_function(program, task.entry_point)
            assert all(_outcome(fn, a) == _outcome(reference, a) for a in inputs), program


def test_variants_only_for_procedural_tasks():
    from adiff_env.code.tasks import Task
    from adiff_env.code.tasks.variants import reference_solutions

    with pytest.raises(ValueError, match="not a procedural task"):
        reference_solutions(Task(task_id="x", prompt="p", tests=("assert True",)))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_wrong_parameter_is_rejected(family):
    """A model that writes the right shape with another instance's numbers (not copied from
    the prompt) must fail: every reference of the family with other parameters fails the tests."""
    tasks = [generate(family, seed) for seed in range(25)]
    for task in tasks:
        for other in tasks:
            if other.meta["params"] != task.meta["params"]:
                assert not passes_tests(other.solution, task.entry_point, task.tests), (task.task_id, other.task_id)
