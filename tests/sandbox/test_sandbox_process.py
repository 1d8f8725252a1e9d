"""ProcessSandbox: rlimits, timeouts, process-tree kill and output caps on local subprocesses."""

import os
import re
import warnings

import pytest
import sandbox_helpers as H

from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning


@pytest.fixture
def sandbox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        box = ProcessSandbox(Limits(wall_s=2, output_bytes=4096, workdir_mb=4))
    yield box
    box.close()


def healthy(box):
    result = box.run(H.HEALTHY, H.HEALTHY_TESTS)
    return result.all_passed and result.error is None


def test_construction_warns_not_a_boundary():
    with pytest.warns(UnsafeSandboxWarning, match="NOT a security boundary"):
        ProcessSandbox()
    with pytest.raises(TypeError, match="Limits"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnsafeSandboxWarning)
            ProcessSandbox(limits={"wall_s": 1})


def test_runs_tests_separately(sandbox):
    result = sandbox.run("def f(x):\n    print('hi')\n    return 2 * x\n", ["assert f(2) == 4", "assert f(2) == 5", "assert f(3) == 6"])
    assert [t.passed for t in result.tests] == [True, False, True]
    assert result.tests[1].error_type == "AssertionError" and result.compiled and result.pass_rate == pytest.approx(2 / 3)
    assert result.stdout == "hi\nhi\nhi\n" and result.wall_s > 0


def test_rejected_program_never_runs(sandbox):
    result = sandbox.run("x = 1\x00", ["assert 1"])
    assert result.rejected and "NUL" in result.rejected and result.tests[0].error_type == "Rejected"


@pytest.mark.parametrize("program", [H.INFINITE_LOOP, H.SLEEP_PAST_LIMIT], ids=["loop", "sleep"])
def test_time_limit(sandbox, program):
    result = sandbox.run(program, ["assert 1"])
    assert result.timed_out and not result.tests[0].passed and result.wall_s < 5
    assert healthy(sandbox)


def test_per_test_limit(sandbox):
    result = sandbox.run("", [H.INFINITE_LOOP, "assert 1"], Limits(wall_s=3, test_s=0.3))
    assert result.tests[0].error_type == "Timeout" and result.tests[1].passed


@pytest.mark.parametrize("program", [H.ORPHAN, H.DAEMON], ids=["orphan", "daemon"])
def test_child_outliving_the_program_is_killed(sandbox, program):
    result = sandbox.run(program, ["assert 1"])
    assert result.tests[0].passed and re.search(r"killed [12] process", result.stderr)  # 2: the daemon's parent, caught alive
    assert H.host_orphans() == []


def test_memory_bomb(sandbox):
    result = sandbox.run(H.MEMORY_BOMB, ["assert 1"])
    assert result.oom and not result.compiled and "MemoryError" in result.stderr
    assert healthy(sandbox)


def test_huge_file(sandbox):
    result = sandbox.run(H.HUGE_FILE, ["import os; assert os.path.getsize('huge.bin') <= 4 * 2**20"])
    assert "File too large" in result.stderr and result.tests[0].passed


def test_print_100mb(sandbox):
    result = sandbox.run(H.PRINT_100MB, ["assert 1"])
    assert result.output_truncated and len(result.stdout) == 4096 and result.tests[0].passed


def test_kill_own_runner(sandbox):
    result = sandbox.run("x = 1", [H.KILL_HARNESS, "assert 1"])
    assert len(result.tests) == 2  # the judge is this process: the program's signal cannot reach it
    assert healthy(sandbox)


def test_trusted_verdict_and_flags(sandbox):
    program = "def f(x):\n    print('hi')\n    return 2 * x\n"
    tests = ["assert f(2) == 4", "assert f(2) == 5", "assert f(3) == 6", "assert f((1,)) == (1, 1)"]
    result = sandbox.run(program, tests, entry_point="f")
    assert [t.passed for t in result.tests] == [True, False, True, True] and result.trusted
    assert result.tests[1].message == "assertion failed: assert f(2) == 5" and result.stdout == "hi\n" * 4
    legacy = sandbox.run(program, tests)
    assert [t.passed for t in legacy.tests] == [True, False, True, True] and legacy.untrusted_tests == 4
    mixed = sandbox.run(program, tests, entry_point="f", fallback=[3])
    assert [t.trusted for t in mixed.tests] == [True, True, True, False] and mixed.passed == 3


def test_program_errors_come_back_as_builtin_exceptions(sandbox):
    program = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n"
    tests = ["try:\n    f(-1)\n    raise AssertionError('no error')\nexcept ValueError as e:\n    assert str(e) == 'negative'",
             "f(-1)", "assert f(1) == 1"]
    result = sandbox.run(program, tests, entry_point="f")
    assert [t.passed for t in result.tests] == [True, False, True] and result.tests[1].error_type == "ValueError"


def test_per_test_limit_restarts_the_program(sandbox):
    program = "def f(x):\n    while x:\n        pass\n    return 0\n"
    result = sandbox.run(program, ["assert f(1) == 0", "assert f(0) == 0"], Limits(wall_s=5, test_s=0.5), entry_point="f")
    assert result.tests[0].error_type == "Timeout" and result.tests[1].passed and result.timed_out and result.restarts == 1


def test_unsupported_return_value_fails_closed(sandbox):
    program = "def f():\n    return (i for i in range(3))\n"
    result = sandbox.run(program, ["assert list(f()) == [0, 1, 2]"], entry_point="f")
    assert not result.tests[0].passed and "not plain data" in result.tests[0].message
    assert sandbox.run(program, ["assert list(f()) == [0, 1, 2]"], entry_point="f", fallback=[0]).all_passed


def test_closed_sandbox_refuses(sandbox):
    sandbox.close()
    with pytest.raises(RuntimeError, match="closed"):
        sandbox.run(H.HEALTHY, H.HEALTHY_TESTS)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"), reason="needs root and /usr/bin/python3")
def test_fork_bomb_as_unprivileged_user():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        box = ProcessSandbox(Limits(wall_s=2, pids=32), python="/usr/bin/python3", user="nobody")
    result = box.run(H.FORK_BOMB, ["assert 1"])
    assert result.timed_out
    assert box.run("import os\nassert os.getuid() != 0", ["import os; assert os.getuid() != 0"]).all_passed
    assert healthy(box)


def test_calls_sent_ahead_stay_in_step_with_the_tests(sandbox):
    program = "calls = []\ndef f(x):\n    calls.append(x)\n    return len(calls)\n"
    tests = ["assert f(10) == 1", "assert undefined_name == f(20)", "assert f(30) == 3", "assert 0 < 1 < f(40)",
             "assert [f(50)] == [4]"]  # test 1 raises before its call; test 3 is chained: nothing sent ahead
    result = sandbox.run(program, tests, entry_point="f")
    assert [t.passed for t in result.tests] == [True, False, False, True, True], result
    simple = ["assert f(10) == 1", "assert undefined_name == f(20)", "assert f(30) == 3", "assert f(40) == 4"]
    result = sandbox.run(program, simple, entry_point="f")  # all sent ahead: f(20) runs although its test raised
    assert [t.passed for t in result.tests] == [True, False, True, True] and result.error is None, result
