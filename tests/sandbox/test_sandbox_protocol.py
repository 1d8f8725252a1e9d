"""Protocol types, host-side job/report handling, and the sandbox factory (no sandbox runs)."""

import json

import pytest

from adiff_env.errors import UnknownNameError
from adiff_env.sandbox import SANDBOX_KINDS, make_sandbox
from adiff_env.sandbox.base import ExecResult, Limits, Sandbox, TestOutcome
from adiff_env.sandbox.jobs import (
    MESSAGE_CHARS,
    build_job,
    check_program,
    check_tests,
    harness_source,
    parse_report,
    rejected_result,
    result_from_report,
)
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning


@pytest.mark.parametrize(
    "field, value", [("wall_s", 0), ("memory_mb", -1), ("pids", 0), ("cpus", 0.0), ("output_bytes", "10"), ("program_bytes", True)]
)
def test_limits_reject_non_positive_or_non_numbers(field, value):
    with pytest.raises(ValueError, match=f"Limits.{field}"):
        Limits(**{field: value})


def test_limits_test_s_optional_but_positive():
    assert Limits(test_s=0.5).test_s == 0.5
    with pytest.raises(ValueError, match="test_s"):
        Limits(test_s=0)


def test_exec_result_counts():
    outcomes = (TestOutcome(0, True), TestOutcome(1, False, "AssertionError"), TestOutcome(2, True))
    result = ExecResult(tests=outcomes, tests_total=3)
    assert result.passed == 2 and result.pass_rate == pytest.approx(2 / 3) and not result.all_passed
    assert ExecResult(tests=(TestOutcome(0, True),)).all_passed
    assert ExecResult(tests=()).pass_rate == 0.0 and not ExecResult(tests=()).all_passed


@pytest.mark.parametrize(
    "program, reason",
    [
        (b"\xff\xfe", "not valid UTF-8"),
        ("x = '\udc80'", "not valid UTF-8"),
        ("x = 1\x00", "NUL byte"),
        (123, "must be str or UTF-8 bytes"),
        ("#" * (Limits().program_bytes + 1), "over the limit"),
    ],
)
def test_check_program_rejects(program, reason):
    text, why = check_program(program, Limits())
    assert text == "" and reason in why


def test_check_program_accepts_str_and_utf8_bytes():
    assert check_program("print('é')", Limits()) == ("print('é')", None)
    assert check_program("print('é')".encode(), Limits()) == ("print('é')", None)
    # the cap counts UTF-8 bytes, not characters
    assert check_program("é" * 6, Limits(program_bytes=12))[1] is None
    assert "13 bytes" in check_program("é" * 6 + "x", Limits(program_bytes=12))[1]


def test_check_tests():
    assert check_tests(("assert 1",)) == ["assert 1"]
    with pytest.raises(TypeError, match="list of str"):
        check_tests("assert 1")
    with pytest.raises(TypeError, match=r"tests\[1\]"):
        check_tests(["assert 1", 2])
    with pytest.raises(ValueError, match="NUL"):
        check_tests(["assert 1\x00"])


def test_build_job_fields():
    limits = Limits(wall_s=2, memory_mb=100, workdir_mb=8, pids=16, test_s=1)
    job = json.loads(build_job("x=1", ["assert x"], limits, rlimit_nproc=True))
    assert job["program"] == "x=1" and job["tests"] == ["assert x"]
    assert job["memory_bytes"] == 100 << 20 and job["fsize_bytes"] == 8 << 20
    assert job["nproc"] == 16 and job["wall_s"] == 2 and job["test_s"] == 1 and job["cpu_s"] == 3
    assert json.loads(build_job("x=1", [], limits))["nproc"] is None


def test_rejected_result_fails_every_test():
    result = rejected_result("too big", 3)
    assert result.rejected == "too big" and not result.compiled and result.tests_total == 3
    assert [t.error_type for t in result.tests] == ["Rejected"] * 3 and result.passed == 0


def _report(steps, **kw):
    return {"steps": steps, "stdout": "", "stderr": "", "stdout_bytes": 0, "stderr_bytes": 0, "exit": "exit 0", **kw}


def test_result_from_report_fills_missing_tests():
    steps = [{"kind": "program", "index": 0, "passed": True}, {"kind": "test", "index": 0, "passed": True}]
    result = result_from_report(_report(steps, exit="signal SIGKILL"), 3, Limits(), wall_s=0.1)
    assert [t.passed for t in result.tests] == [True, False, False]
    assert result.tests[2].error_type == "NotRun" and "SIGKILL" in result.error
    timed = result_from_report(_report(steps, timed_out=True), 2, Limits(), wall_s=1)
    assert timed.timed_out and timed.tests[1].error_type == "Timeout" and timed.error is None


def test_result_from_report_flags():
    limits = Limits(output_bytes=10)
    steps = [{"kind": "program", "index": 0, "passed": False, "error_type": "NameError", "message": "x"}]
    report = _report(steps, stdout_bytes=11, stderr="warn", oom=True, leftovers=2)
    result = result_from_report(report, 0, limits, wall_s=0.5)
    assert result.output_truncated and result.oom and not result.compiled
    assert "[program] NameError: x" in result.stderr and "killed 2 process" in result.stderr
    missing = result_from_report(None, 1, limits, wall_s=0.0)
    assert missing.error == "the harness produced no report" and not missing.tests[0].passed
    long = result_from_report(None, 1, limits, wall_s=0.0, error="e" * 2000)
    assert len(long.tests[0].message) == MESSAGE_CHARS


@pytest.mark.parametrize("raw", [b"", b"\xff", b"[1]", b'{"no": "steps"}', b"{broken"])
def test_parse_report_rejects_malformed(raw):
    assert parse_report(raw) is None


def test_parse_report_accepts_report():
    assert parse_report(json.dumps(_report([])).encode())["steps"] == []


def test_harness_source_is_the_shipped_file():
    assert "def supervise(" in harness_source()


def test_make_sandbox_unknown_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'docker'"):
        make_sandbox("dockr")
    assert set(SANDBOX_KINDS) == {"docker", "process"}


def test_make_sandbox_process_warns_and_follows_protocol():
    with pytest.warns(UnsafeSandboxWarning, match="NOT a security boundary"):
        sandbox = make_sandbox("process", limits=Limits(wall_s=2))
    assert isinstance(sandbox, ProcessSandbox) and isinstance(sandbox, Sandbox)
    assert sandbox.limits.wall_s == 2
    sandbox.close()
