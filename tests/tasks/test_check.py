"""check_suite: trusted verdicts for reference solutions, and the tests that need the fallback."""

import warnings

import pytest

from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning
from adiff_env.tasks import generate
from adiff_env.tasks.base import Task
from adiff_env.tasks.check import check_suite


@pytest.fixture(scope="module")
def box():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        sandbox = ProcessSandbox()
    yield sandbox
    sandbox.close()


def _generator_task(**kw):
    return Task("gen", "Yield 0 and 1.", ("assert list(f()) == [0, 1]", "assert sum(f()) == 1"), entry_point="f",
                solution="def f():\n    yield 0\n    yield 1\n", **kw)


def test_procedural_references_all_trusted(box):
    check = check_suite([generate("take_smallest", 0), generate("rotate_left", 1)], box)
    assert check.tasks_passed == check.tasks == 2 and check.trusted_tests == check.tests_total > 0
    assert check.fallback_tests == 0 and check.needs_fallback == {} and check.public_failed == []


def test_generator_needs_the_fallback_and_passes_with_it(box):
    check = check_suite([_generator_task()], box)
    assert check.failed == ["gen"] and check.needs_fallback == {"gen": [0, 1]}
    flagged = check_suite([_generator_task(fallback_tests=(0, 1))], box)
    assert flagged.failed == [] and flagged.fallback_tests == 2 and flagged.trusted_tests == 0
