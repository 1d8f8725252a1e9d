"""The harness script itself (envs/sandbox/harness.py), run as a local subprocess."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from adiff_env.assets import asset_path

HARNESS = asset_path("envs", "sandbox", "harness.py")


def run_harness(tmp_path, program, tests, **job):
    spec = {"program": program, "tests": tests, "wall_s": 5, "test_s": None, "output_bytes": 1000,
            "memory_bytes": 512 << 20, "fsize_bytes": 1 << 20, "nproc": None, "cpu_s": 10, "message_chars": 80}
    spec.update(job)
    work = tmp_path / "work"
    proc = subprocess.run([sys.executable, "-I", str(HARNESS), str(work)], input=json.dumps(spec).encode(),
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert not work.exists(), "the harness removes its work dir"
    report = json.loads(proc.stdout)
    return report, {(s["kind"], s["index"]): s for s in report["steps"]}


def test_each_test_reported_separately(tmp_path):
    program = "def f(x):\n    return x + 1\n"
    tests = ["assert f(1) == 2", "assert f(1) == 3", "assert g(1)", "raise SystemExit(3)", "assert f(0) == 1"]
    report, steps = run_harness(tmp_path, program, tests)
    assert steps[("program", 0)]["passed"]
    assert [steps[("test", i)]["passed"] for i in range(5)] == [True, False, False, False, True]
    assert steps[("test", 1)]["error_type"] == "AssertionError"
    assert steps[("test", 1)]["message"] == "assertion failed: assert f(1) == 3"
    assert steps[("test", 2)]["error_type"] == "NameError"
    assert steps[("test", 3)]["error_type"] == "SystemExit"
    assert report["exit"] == "exit 0" and not report["timed_out"] and report["leftovers"] == 0


def test_syntax_error_in_program_still_runs_tests(tmp_path):
    _, steps = run_harness(tmp_path, "def f(:\n", ["assert True", "f()"])
    assert steps[("program", 0)]["error_type"] == "SyntaxError"
    assert steps[("test", 0)]["passed"] and steps[("test", 1)]["error_type"] == "NameError"


def test_per_test_timeout_does_not_hide_later_tests(tmp_path):
    report, steps = run_harness(tmp_path, "", ["while True: pass", "import time; time.sleep(30)", "assert 1"], test_s=0.3)
    assert steps[("test", 0)]["error_type"] == "Timeout" and steps[("test", 1)]["error_type"] == "Timeout"
    assert steps[("test", 2)]["passed"] and report["timed_out"]
    assert report["wall_s"] < 3


def test_wall_deadline_kills_runner_that_ignores_alarm(tmp_path):
    program = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
    report, steps = run_harness(tmp_path, program, ["while True: pass", "assert 1"], wall_s=0.5)
    assert report["timed_out"] and report["exit"] == "signal SIGKILL"
    assert ("test", 0) not in steps and report["wall_s"] < 3


def test_output_capped_but_counted(tmp_path):
    report, _ = run_harness(tmp_path, "import sys\nprint('a' * 5000)\nsys.stderr.write('b' * 3000)", [])
    assert report["stdout"] == "a" * 1000 and report["stdout_bytes"] == 5001
    assert report["stderr"] == "b" * 1000 and report["stderr_bytes"] == 3000


def test_memory_and_file_size_limits(tmp_path):
    _, steps = run_harness(tmp_path, "", ["x = bytearray(600 * 2**20)", "open('f', 'wb').write(b'x' * (2 << 20))"])
    assert steps[("test", 0)]["error_type"] == "MemoryError"
    assert steps[("test", 1)]["error_type"] == "OSError" and "too large" in steps[("test", 1)]["message"]


def test_early_exit_keeps_earlier_reports(tmp_path):
    report, steps = run_harness(tmp_path, "", ["assert 1", "import os; os._exit(7)", "assert 1"])
    assert steps[("test", 0)]["passed"] and ("test", 1) not in steps and report["exit"] == "exit 7"


def test_leftover_processes_are_killed_and_counted(tmp_path):
    program = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(300)\n"
        "    os._exit(0)\n"
    )
    report, _ = run_harness(tmp_path, program, ["assert 1"])
    assert report["leftovers"] == 1


def test_usage_without_workdir():
    proc = subprocess.run([sys.executable, "-I", str(HARNESS)], capture_output=True, timeout=30)
    assert proc.returncode == 2 and b"usage" in proc.stderr


@pytest.mark.parametrize("program", ["print(__name__)", "import sys; print(sys.argv)"])
def test_program_namespace(tmp_path, program):
    report, _ = run_harness(tmp_path, program, [])
    assert report["stdout"].strip() in ("__program__", "['program.py']")


def test_serve_answers_one_line_per_job_with_its_nonce(tmp_path):
    jobs = [
        {"nonce": "a1", "job": {"program": "x = 1", "tests": ["assert x == 1", "assert x == 2"], "wall_s": 5}},
        {"nonce": "../evil", "job": {"program": "", "tests": [], "wall_s": 5}},
        {"nonce": "b2", "job": {"program": "print('out')", "tests": [], "wall_s": 5}},
    ]
    payload = "\n".join(json.dumps(j) for j in jobs).encode() + b"\nnot json\n"
    proc = subprocess.run([sys.executable, "-I", str(HARNESS), "serve", str(tmp_path)], input=payload,
                          capture_output=True, timeout=60)
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(replies) == 4
    assert replies[0]["nonce"] == "a1" and [s["passed"] for s in replies[0]["report"]["steps"]] == [True, True, False]
    assert "alphanumeric" in replies[1]["error"] and replies[1]["nonce"] == "../evil"
    assert replies[2]["report"]["stdout"] == "out\n"
    assert "error" in replies[3] and replies[3]["nonce"] == ""
    assert list(tmp_path.iterdir()) == []  # every work dir removed


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"), reason="needs root to run as nobody")
def test_kill_all_refused_outside_a_sandbox_container():
    """--kill-all must not touch processes that are not the program's when PID 1 is not the
    sandbox user (a host). Run as nobody, so a broken guard could only hurt nobody's processes."""
    work = tempfile.mkdtemp(prefix="adiff-killall-")
    try:
        os.chmod(work, 0o777)
        harness = shutil.copy(HARNESS, os.path.join(work, "harness.py"))
        os.chmod(harness, 0o644)
        bystander = subprocess.Popen(["sleep", "300"], user="nobody")
        job = {"program": "", "tests": ["assert 1"], "wall_s": 5}
        proc = subprocess.run(["/usr/bin/python3", "-I", harness, os.path.join(work, "w"), "--kill-all"], user="nobody",
                              input=json.dumps(job).encode(), capture_output=True, timeout=60, cwd=work)
        assert json.loads(proc.stdout)["leftovers"] == 0
        assert bystander.poll() is None, "the harness killed a process that was not the program's"
        bystander.kill()
        bystander.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
