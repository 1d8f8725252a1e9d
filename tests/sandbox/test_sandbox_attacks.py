"""Reward hacks against trusted verdicts: no attack scores above an honest wrong program.

Same tasks for every program (HumanEval and procedural), judged with the task's entry point
stubbed (the env's path). ProcessSandbox always; Docker (server and exec mode) where an
engine answers (ADIFF_REQUIRE_DOCKER=1 makes it required).
"""

import warnings

import attacks as A
import pytest
import sandbox_helpers as H

from adiff_env.code.tasks import load_tasks
from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning

LIMITS = Limits(wall_s=4, output_bytes=4096, workdir_mb=8)
HUMANEVAL_IDS = ("HumanEval/0", "HumanEval/12", "HumanEval/32")
EXEC_MODE_ATTACKS = ("always_equal", "forge_channel", "forge_after_exit", "kill_supervisor", "os_exit_in_call")


@pytest.fixture(scope="module")
def tasks():
    humaneval = {t.task_id: t for t in load_tasks("humaneval")}
    return [humaneval[i] for i in HUMANEVAL_IDS] + load_tasks("procedural:train:1")[::4]


def scores(box, template, tasks, limits=LIMITS):
    out = []
    for task in tasks:
        result = box.run(A.program(template, task.entry_point), list(task.tests), limits, setup=task.setup,
                         entry_point=task.entry_point)
        assert len(result.tests) == len(task.tests) and result.trusted
        out.append(result.pass_rate)
    return out


def baseline(box, tasks):
    per_program = [scores(box, t, tasks) for t in A.HONEST_WRONG.values()]
    return [max(col) for col in zip(*per_program)]


def check_attacks(box, tasks, names=tuple(A.ATTACKS)):
    base = baseline(box, tasks)
    failures = {}
    for name in names:
        template = A.ATTACKS[name]
        got = scores(box, template, tasks)
        if any(g > b + 1e-9 for g, b in zip(got, base)):
            failures[name] = (sum(got) / len(got), sum(base) / len(base))
    assert not failures, f"attacks scoring above the honest wrong baseline (attack, baseline): {failures}"
    for name, template in A.TIMING_ATTACKS.items():
        for task in tasks[:2]:
            limits = Limits(wall_s=3, test_s=0.5, output_bytes=4096, workdir_mb=8)
            result = box.run(A.program(template, task.entry_point), list(task.tests), limits, setup=task.setup,
                             entry_point=task.entry_point)
            assert result.passed == 0 and result.timed_out, (name, result)
            assert result.wall_s < limits.wall_s + 10, (name, result.wall_s)
    assert H.host_orphans() == []


@pytest.fixture(scope="module")
def process_box():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        box = ProcessSandbox(LIMITS)
    yield box
    box.close()


@pytest.mark.slow
def test_attacks_process_sandbox(process_box, tasks):
    check_attacks(process_box, tasks)


@pytest.mark.slow
def test_reference_solutions_still_pass(process_box, tasks):
    for task in tasks:
        result = process_box.run(task.solution, list(task.tests), LIMITS, setup=task.setup, entry_point=task.entry_point)
        assert result.all_passed and result.trusted, (task.task_id, result)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("mode", ["server", "exec"])
def test_attacks_docker(docker_client, tasks, mode):
    from adiff_env.sandbox.docker import DockerSandbox

    box = DockerSandbox(LIMITS, pool_size=2, mode=mode, client=docker_client)
    try:
        check_attacks(box, tasks, tuple(A.ATTACKS) if mode == "server" else EXEC_MODE_ATTACKS)
        scan = box.run(A.SCAN_FILESYSTEM, [])
        assert "HITS []" in scan.stdout, scan.stdout
        assert all(box.run(t.solution, list(t.tests), LIMITS, setup=t.setup, entry_point=t.entry_point).all_passed
                   for t in tasks)
    finally:
        box.close()
    assert box.containers() == []
