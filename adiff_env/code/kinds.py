"""The code domain's agent kinds: ``coder`` and ``reference`` (entry points of ``adiff_env.agents``)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import check_acting_options, register_agent
from adiff_env.errors import ConfigError


def _coder_factory(arg: str, env: Any, device: str = "cpu", seed: int = 0, **act: Any) -> Any:
    """``coder:NAME[@vK]``, ``coder:PATH`` or ``coder:default`` (the shipped checkpoint); options
    override the checkpoint's acting rules (``samples``, ``steps``, ``temperature``, ``sandbox``...)."""
    from adiff_env.code.agent import CodePlanner

    if not arg:
        raise ConfigError("coder agent spec needs a model: 'coder:default', 'coder:NAME[@vK]' or 'coder:PATH'.")
    return CodePlanner.from_spec(arg, env=env, device=device, seed=int(seed), **act)


class ReferenceAgent:
    """Oracle for code envs: submits the current task's reference solution (read from the env).
    It checks the env, the tests and the sandbox -- every suite's references must score 1.0 --
    and is no model of anything."""

    def __init__(self, env: Any) -> None:
        if not hasattr(env.unwrapped, "task"):
            raise ValueError(f"the reference agent needs a code env with tasks (adiff/CodeTests-v0), got "
                             f"{env.spec.id if env.spec else env}.")
        self.env = env

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        task = self.env.unwrapped.task
        if task is None or task.solution is None:
            raise ValueError(f"task {getattr(task, 'task_id', None)!r} has no reference solution to submit.")
        return task.solution, state


def check_coder_options(options: dict[str, Any]) -> dict[str, Any]:
    """``coder:`` options checked against :class:`~adiff_env.code.config.CoderActConfig` (plus
    ``device`` and ``seed``) before any checkpoint is read; no torch import."""
    from adiff_env.code.config import CoderActConfig

    return check_acting_options(CoderActConfig, options, {"device": str, "seed": int}, "coder option")


def check_coder_arg(arg: str) -> None:
    """``coder:ARG`` names a model the registry has (``default``: the shipped one); no weights read."""
    from adiff_env.code.config import DEFAULT_MODEL
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ConfigError("coder agent spec needs a model: 'coder:default', 'coder:NAME[@vK]' or 'coder:PATH'.")
    ModelRegistry().resolve(DEFAULT_MODEL if arg == "default" else arg)


def register_kinds() -> None:
    register_agent("coder", _coder_factory, "code planner: masked-diffusion or autoregressive coder "
                   "(CODER:default | CODER:NAME[@vN] | CODER:PATH)", check_options=check_coder_options,
                   check_arg=check_coder_arg)
    register_agent("reference", lambda arg, env: ReferenceAgent(env),
                   "oracle for code envs: submits each task's reference solution (checks env + sandbox)")
