"""Protocol types, host-side admission checks, the wire codec, and the sandbox factory (no sandbox runs)."""

import json
import math

import pytest

from adiff_env.errors import UnknownNameError
from adiff_env.sandbox import SANDBOX_KINDS, make_sandbox
from adiff_env.sandbox.base import ExecResult, Limits, Sandbox, TestOutcome
from adiff_env.sandbox.codec import FrameParser, Unencodable, WireError, decode, encode, frame
from adiff_env.sandbox.jobs import check_fallback, check_program, check_tests, rejected_result, runner_source
from adiff_env.sandbox.judge import limits_message
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


def test_limits_message_fields():
    limits = Limits(wall_s=2, memory_mb=100, workdir_mb=8, pids=16, test_s=1)
    msg = limits_message(limits, rlimit_nproc=True)
    assert msg["memory_bytes"] == 100 << 20 and msg["fsize_bytes"] == 8 << 20
    assert msg["nproc"] == 16 and msg["cpu_s"] == 4 and msg["output_bytes"] == limits.output_bytes
    assert limits_message(limits)["nproc"] is None


def test_check_fallback():
    assert check_fallback([0, 2, 2], 3) == frozenset({0, 2})
    with pytest.raises(ValueError, match="0..2"):
        check_fallback([3], 3)
    with pytest.raises(TypeError, match="collection"):
        check_fallback(1, 3)


def test_rejected_result_fails_every_test():
    result = rejected_result("too big", 3)
    assert result.rejected == "too big" and not result.compiled and result.tests_total == 3
    assert [t.error_type for t in result.tests] == ["Rejected"] * 3 and result.passed == 0


PLAIN = [None, True, False, 0, -7, 10**40, 1.5, -0.0, "é\n", b"\x00\xff", [], [1, [2, (3,)]], (), ("a", 1),
         {1, "x", (2, 3)}, {"k": [1, 2], 3: None, (1, 2): {"n": b""}}]


@pytest.mark.parametrize("value", PLAIN, ids=[repr(v)[:20] for v in PLAIN])
def test_codec_round_trips_exact_types(value):
    back = decode(json.loads(json.dumps(encode(value))))
    assert back == value and type(back) is type(value)


def test_codec_floats_and_nested_types():
    back = decode(json.loads(json.dumps(encode([float("inf"), float("nan"), (1, [True])]))))
    assert back[0] == math.inf and math.isnan(back[1]) and type(back[2]) is tuple and type(back[2][1]) is list


class _Int(int):
    pass


@pytest.mark.parametrize("value", [_Int(1), frozenset(), object(), (x for x in []), [1, len], {"k": range(3)}])
def test_codec_refuses_anything_but_plain_data(value):
    with pytest.raises(Unencodable):
        encode(value)


@pytest.mark.parametrize("wire", [{"a": 1}, ["x", 1], [], ["b", "zz"], ["b"], ["s", ["l"]], ["d", [1]], ["d", [["l"], 1]],
                                  [1, 2], ["l", {"__class__": "x"}]])
def test_strict_decoder_rejects_malformed(wire):
    with pytest.raises(WireError):
        decode(wire)


def test_strict_decoder_depth_cap():
    deep = 1
    for _ in range(100):
        deep = ["l", deep]
    with pytest.raises(WireError, match="deeper"):
        decode(deep)


def test_frame_parser_splits_and_refuses():
    data = frame({"a": 1}) + frame({"b": [1, 2]})
    parser = FrameParser()
    assert parser.feed(data[:5]) == [] and parser.feed(data[5:]) == [{"a": 1}, {"b": [1, 2]}] and parser.pending == 0
    for bad in (b"\x00\x00\x00\x02[]", b"\x00\x00\x00\x02{x", b"\xff\xff\xff\xff", b"\x00\x00\x00\x01\xff"):
        with pytest.raises(WireError):
            FrameParser().feed(bad)


def test_runner_source_is_the_shipped_file():
    source = runner_source()
    assert "def serve(" in source and "def run(" in source
    assert "assert" not in "".join(line for line in source.splitlines() if line.lstrip().startswith("import"))


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


def test_pipeline_plan_sends_ahead_only_calls_known_before_the_test_runs():
    from adiff_env.sandbox.judge import pipeline_plan

    plan = pipeline_plan(["assert f(3 * 19) == 1", 'assert f("a" + "b", k=-1) == 2, "Test 2"', "assert True"], "", "f", ())
    assert [(m["args"], m["kwargs"]) for m in plan] == [(["l", 57], ["d"]), (["l", "ab"], ["d", ["k", -1]])]
    setup = "def candidate(*args, **kwargs):\n    return f(*args, **kwargs)\n"
    assert pipeline_plan(["assert candidate([1]) == 1"], setup, "f", ())[0]["fn"] == "f"
    for test in ("assert f(x) == 1", "assert f(1) == 1, f(2)", "assert f(1) or f(2)", "assert 0 < 1 < f(2)",
                 "for i in range(3):\n    assert f(i)", "assert f(*[1])", "assert [f(i) for i in (1, 2)]"):
        assert pipeline_plan([test], "", "f", ()) is None, test
    assert pipeline_plan(["assert f(x)"], "", "f", (0,))[0]["op"] == "exec"  # a fallback test runs the old way
