"""HumanEval adapter: split tests, and every canonical solution passes in a real sandbox."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from adiff_env.code.tasks.humaneval import load_humaneval, split_check
from adiff_env.sandbox import Limits, make_sandbox

LIMITS = Limits(wall_s=20.0, memory_mb=512)


@pytest.fixture(scope="module")
def tasks():
    return load_humaneval()


def _process_sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_sandbox("process", limits=LIMITS)


def _score_all(sandbox, tasks, program_of, workers=2):
    def one(task):
        result = sandbox.run(task.setup + "\n" + program_of(task), list(task.tests), LIMITS)
        return task.task_id, result

    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(one, tasks))


def _pass_body(task):
    return task.prompt + "    pass\n"


def test_split_into_separate_tests(tasks):
    assert len(tasks) == 164
    by_id = {t.task_id: t for t in tasks}
    t0 = by_id["HumanEval/0"]
    assert len(t0.tests) == 7 and all(t.startswith("assert candidate(") for t in t0.tests)
    assert "def candidate(*args, **kwargs):\n    return has_close_elements(*args, **kwargs)" in t0.setup
    assert "METADATA" in t0.setup and t0.solution.startswith(t0.prompt)
    t32 = by_id["HumanEval/32"]  # loop test with local imports; poly() comes from the prompt
    assert len(t32.tests) == 1 and "import random" in t32.tests[0] and "def poly" in t32.setup
    assert sum(len(t.tests) for t in tasks) > 1000  # ~7 separate tests per problem, not 164 blobs


def test_split_check_errors():
    with pytest.raises(ValueError, match="no 'def check"):
        split_check("x = 1\n", "f")
    with pytest.raises(ValueError, match="no assert"):
        split_check("def check(candidate):\n    candidate(1)\n", "f")
    setup, tests = split_check("def check(c):\n    x = 2\n    assert c(x) == 3\n    assert c(0) == 1\n", "f")
    assert "def c(*args, **kwargs)" in setup
    assert tests[0].startswith("def _adiff_check():") and "x = 2" in tests[1]  # prefix kept for later tests


def test_canonical_solutions_pass_and_pass_bodies_fail_process(tasks):
    sandbox = _process_sandbox()
    try:
        good = _score_all(sandbox, tasks, lambda t: t.solution)
        bad = _score_all(sandbox, tasks, _pass_body)
    finally:
        sandbox.close()
    failing = {k: [o for o in r.tests if not o.passed][:1] for k, r in good.items() if not r.all_passed}
    assert not failing, failing
    assert all(r.pass_rate < 1.0 for r in bad.values())
    assert sum(r.passed for r in good.values()) == sum(len(t.tests) for t in tasks)


@pytest.mark.slow
@pytest.mark.docker
def test_canonical_solutions_pass_in_docker(tasks, docker_client):
    sandbox = make_sandbox("docker", limits=LIMITS, pool_size=2)
    try:
        good = _score_all(sandbox, tasks, lambda t: t.solution)
        bad = _score_all(sandbox, tasks, _pass_body)
    finally:
        sandbox.close()
    assert [k for k, r in good.items() if not r.all_passed] == []
    assert all(r.pass_rate < 1.0 for r in bad.values())
