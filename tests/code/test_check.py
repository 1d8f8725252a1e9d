"""check_suite: trusted verdicts for reference solutions, and the tests that need the fallback."""

import warnings

import pytest

from adiff_env.code.tasks import generate
from adiff_env.code.tasks.base import Task
from adiff_env.code.tasks.check import check_suite
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning


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


MBPP_RECORDS = [  # MBPP-format records in the style of the original dataset (tuples, sets, bools, floats)
    {"task_id": 2, "text": "Write a function to find the similar elements from the given two tuple lists.",
     "code": "def similar_elements(test_tup1, test_tup2):\n    res = tuple(set(test_tup1) & set(test_tup2))\n    return (res)",
     "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))",
                   "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))"],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 3, "text": "Write a python function to identify non-prime numbers.",
     "code": "import math\ndef is_not_prime(n):\n    result = False\n    for i in range(2,int(math.sqrt(n)) + 1):\n"
             "        if n % i == 0:\n            result = True\n    return result",
     "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True", "assert is_not_prime(35) == True"],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 4, "text": "Write a function to find the largest integers from a given list of numbers using heap queue.",
     "code": "import heapq as hq\ndef heap_queue_largest(nums,n):\n    largest_nums = hq.nlargest(n, nums)\n    return largest_nums",
     "test_list": ["assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65]",
                   "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75]"],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 8, "text": "Write a function to find squares of individual elements in a list using lambda function.",
     "code": "def square_nums(nums):\n    square_nums = list(map(lambda x: x ** 2, nums))\n    return square_nums",
     "test_list": ["assert square_nums([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])==[1, 4, 9, 16, 25, 36, 49, 64, 81, 100]",
                   "assert square_nums([12,15])==[144,225]"],
     "test_setup_code": "", "challenge_test_list": []},
    {"task_id": 17, "text": "Write a function to find the perimeter of a square.",
     "code": "def square_perimeter(a):\n  perimeter=4*a\n  return perimeter",
     "test_list": ["assert square_perimeter(10)==40", "assert square_perimeter(4.5)==18.0"],
     "test_setup_code": "", "challenge_test_list": []},
]


def test_mbpp_format_suite_is_judged_trusted(box, tmp_path):
    import json

    from adiff_env.code.tasks import load_jsonl

    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in MBPP_RECORDS))
    check = check_suite(load_jsonl(path), box)
    assert check.tasks_passed == check.tasks == 5 and check.trusted_tests == check.tests_total == 11
    assert check.needs_fallback == {} and check.fallback_tests == 0
