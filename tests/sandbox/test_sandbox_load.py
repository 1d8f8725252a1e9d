"""Sandboxes on a loaded machine: two CPU-burning processes run while the sandbox works.

A run that reached its wall deadline is timed out however the program's process ended, and
honest programs still pass (no timed assertion beyond generous bounds).
"""

import dataclasses
import subprocess
import sys
import warnings

import pytest
import sandbox_helpers as H

from adiff_env.sandbox.base import Limits
from adiff_env.sandbox.process import ProcessSandbox, UnsafeSandboxWarning

LIMITS = Limits(wall_s=2, output_bytes=4096, workdir_mb=8)
BURN = "while True:\n    pass\n"


@pytest.fixture
def loaded_machine():
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait(timeout=30)


def _exercise(box):
    for program in (H.INFINITE_LOOP, H.SLEEP_PAST_LIMIT):
        result = box.run(program, ["assert 1"], LIMITS)
        assert result.timed_out and not result.tests[0].passed, result
        assert result.wall_s < LIMITS.wall_s + 15
    entry = box.run("def add(a, b):\n    while True:\n        pass\n", H.HEALTHY_TESTS, LIMITS, entry_point="add")
    assert entry.timed_out and entry.passed == 0, entry
    for _ in range(3):
        result = box.run(H.HEALTHY, H.HEALTHY_TESTS, dataclasses.replace(LIMITS, wall_s=20), entry_point="add")
        assert result.all_passed and result.trusted and not result.timed_out, result


@pytest.mark.slow
def test_process_sandbox_under_load(loaded_machine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSandboxWarning)
        box = ProcessSandbox(LIMITS)
    _exercise(box)
    assert H.host_orphans() == []


@pytest.mark.slow
@pytest.mark.docker
def test_docker_sandbox_under_load(docker_client, loaded_machine):
    from adiff_env.sandbox.docker import DockerSandbox

    with DockerSandbox(Limits(wall_s=20, output_bytes=4096, workdir_mb=8), pool_size=1, client=docker_client) as box:
        _exercise(box)
    assert box.containers() == []
