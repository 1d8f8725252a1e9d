"""The code domain's agent kinds: ``coder`` and ``reference`` (entry points of ``adiff_env.agents``)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import check_acting_options, register_agent
from adiff_env.errors import ConfigError

HF_PREFIX = "hf:"  # coder:hf:PATH -- a Hugging Face masked LM from a local folder (adiff_env.code.hf)


def _hf_option_names() -> set[str]:
    from adiff_env import config
    from adiff_env.code.config import HFCoderConfig

    return set(config.field_types(HFCoderConfig))


def _coder_factory(arg: str, env: Any, device: str = "cpu", seed: int = 0, **act: Any) -> Any:
    """``coder:NAME[@vK]``, ``coder:PATH`` or ``coder:default`` (the shipped checkpoint); options
    override the checkpoint's acting rules (``samples``, ``steps``, ``temperature``, ``sandbox``...).
    ``coder:hf:PATH``: a Hugging Face masked LM from a local folder, with the
    :class:`~adiff_env.code.config.HFCoderConfig` options too (``dtype``, ``max_new_tokens``...)."""
    if not arg:
        raise ConfigError("coder agent spec needs a model: 'coder:default', 'coder:NAME[@vK]', 'coder:PATH' "
                          "or 'coder:hf:PATH'.")
    if arg.startswith(HF_PREFIX):
        from adiff_env.code.hf import hf_planner

        return hf_planner(arg[len(HF_PREFIX):], env=env, device=device, seed=int(seed), **act)
    hf_only = sorted(set(act) & _hf_option_names())
    if hf_only:
        raise ConfigError(f"coder option(s) {', '.join(hf_only)} apply to coder:hf:PATH models only, not {arg!r}.")
    from adiff_env.code.agent import CodePlanner

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
    from adiff_env import config
    from adiff_env.code.config import CoderActConfig, HFCoderConfig

    hf_types = config.field_types(HFCoderConfig)
    typed = check_acting_options(CoderActConfig, options, {"device": str, "seed": int, **hf_types}, "coder option")
    HFCoderConfig.from_dict({k: v for k, v in typed.items() if k in hf_types}, "coder:hf options")
    return typed


def check_coder_arg(arg: str) -> None:
    """``coder:ARG`` names a model the registry has (``default``: the shipped one); no weights read."""
    from adiff_env.code.config import DEFAULT_MODEL
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ConfigError("coder agent spec needs a model: 'coder:default', 'coder:NAME[@vK]', 'coder:PATH' "
                          "or 'coder:hf:PATH'.")
    if arg.startswith(HF_PREFIX):
        from adiff_env.code.config import check_model_dir

        check_model_dir(arg[len(HF_PREFIX):])
        return
    ModelRegistry().resolve(DEFAULT_MODEL if arg == "default" else arg)


def register_kinds() -> None:
    register_agent("coder", _coder_factory, "code planner: masked-diffusion or autoregressive coder "
                   "(CODER:default | CODER:NAME[@vN] | CODER:PATH | CODER:hf:PATH, a local transformers masked LM)", check_options=check_coder_options,
                   check_arg=check_coder_arg)
    register_agent("reference", lambda arg, env: ReferenceAgent(env),
                   "oracle for code envs: submits each task's reference solution (checks env + sandbox)")
