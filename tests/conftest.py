"""Shared fixtures.

Docker: tests that need the engine take the ``docker_client`` fixture. Without an engine they
skip with the reason, unless ``ADIFF_REQUIRE_DOCKER=1`` (CI), where they fail instead.
Every test gets its own ``ADIFF_HOME`` and ``MINARI_DATASETS_PATH`` under ``tmp_path`` so
nothing touches the user's registry or datasets.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


def pytest_configure(config):
    """One torch thread: the suite runs MuJoCo, Docker and torch side by side on 2 cores, where
    threads that wait for each other make small models many times slower (measured)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("adiff_home")
    monkeypatch.setenv("ADIFF_HOME", str(home / "adiff"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(home / "minari"))
    yield


@pytest.fixture(scope="session")
def docker_client():
    """A live docker SDK client, or skip (fail under ADIFF_REQUIRE_DOCKER=1)."""
    required = os.environ.get("ADIFF_REQUIRE_DOCKER") == "1"
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:  # any failure to reach the engine
        reason = f"no Docker engine answers ({type(exc).__name__}: {exc})"
        if required:
            pytest.fail(f"ADIFF_REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(reason)
    yield client
    client.close()
