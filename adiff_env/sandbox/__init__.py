"""Running untrusted code: the Sandbox protocol, a Docker warm pool and a local fallback.

``make_sandbox("docker")`` is the security boundary (needs a Docker engine and the image
``adiff-sandbox:py3``; ``adiff sandbox build`` makes it); ``make_sandbox("process")`` runs
local subprocesses with rlimits and warns that it is not a boundary. Either way the verdict
is trusted when ``run`` gets the task's ``entry_point``: ``judge.py`` (here) runs the tests,
``runner/runner.py`` (package data, copied into the sandbox) only answers calls with plain
data (``codec.py``) over frames checked by ``session.py``.
"""

from __future__ import annotations

from adiff_env.errors import UnknownNameError
from adiff_env.sandbox.base import ExecResult, Limits, Sandbox, TestOutcome

SANDBOX_KINDS = ("docker", "process")

__all__ = ["ExecResult", "Limits", "Sandbox", "TestOutcome", "SANDBOX_KINDS", "make_sandbox"]


def make_sandbox(kind: str, *, limits: Limits | None = None, pool_size: int = 2, image: str | None = None) -> Sandbox:
    """Create a sandbox by name: ``"docker"`` (a :class:`DockerSandbox` warm pool of
    ``pool_size`` containers of ``image``) or ``"process"`` (a :class:`ProcessSandbox`;
    ``pool_size`` and ``image`` are ignored). ``limits`` are the defaults for ``run``.
    """
    if kind == "docker":
        from adiff_env.sandbox.docker import DEFAULT_IMAGE, DockerSandbox

        return DockerSandbox(limits=limits, pool_size=pool_size, image=image or DEFAULT_IMAGE)
    if kind == "process":
        from adiff_env.sandbox.process import ProcessSandbox

        return ProcessSandbox(limits=limits)
    raise UnknownNameError("sandbox kind", str(kind), SANDBOX_KINDS)
