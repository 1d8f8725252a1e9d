"""The ``planner`` agent kind (an entry point of the ``adiff_env.agents`` group)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import check_acting_options, register_agent
from adiff_env.errors import ConfigError


def _planner_factory(arg: str, env: Any, sampler: str | None = None, steps: int | None = None, device: str = "cpu",
                     **act: Any) -> Any:
    """``planner:NAME``, ``planner:NAME@v2`` or ``planner:PATH``; options override the
    checkpoint's acting rules (``sampler``, ``steps`` = sampler steps, any ActConfig field, e.g.
    ``reward=task&guidance=x0&guide_scale=0.3``: :mod:`adiff_env.planners.reward_spec`);
    ``device`` is where it samples (``cpu``, ``cuda``)."""
    from adiff_env.planners.trajectory import TrajectoryPlanner
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ConfigError("planner agent spec needs a model: 'planner:NAME', 'planner:NAME@v2' or 'planner:PATH'.")
    overrides = dict(act)
    if sampler is not None:
        overrides["sampler"] = sampler
    if steps is not None:
        overrides["sampler_steps"] = int(steps)
    if overrides.get("reward"):
        from adiff_env.planners.reward_spec import check_reward_spec

        check_reward_spec(overrides["reward"], env)  # names checked against the env before any weights load
    checkpoint = ModelRegistry().load(arg, kind="trajectory-planner")
    return TrajectoryPlanner.from_checkpoint(checkpoint, env, device=device, **overrides)


_OWN_OPTIONS = {"sampler": str, "steps": int, "device": str}


def check_planner_options(options: dict[str, Any]) -> dict[str, Any]:
    """Names and values of ``planner:`` options checked against :class:`ActConfig` (plus
    ``steps`` = ``sampler_steps`` and ``device``) before any checkpoint is read."""
    from adiff_env.planners.preset import ActConfig

    return check_acting_options(ActConfig, options, _OWN_OPTIONS, "planner option", {"steps": "sampler_steps"})


def check_planner_arg(arg: str) -> None:
    """``planner:ARG`` names a model the registry has (metadata only, no weights, no torch)."""
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ConfigError("planner agent spec needs a model: 'planner:NAME', 'planner:NAME@v2' or 'planner:PATH'.")
    ModelRegistry().resolve(arg)


def _chunk_factory(arg: str, env: Any, device: str = "cpu", seed: int = 0, **overrides: Any) -> Any:
    """``chunk:NAME[@vK]`` or ``chunk:PATH``: the action-chunk diffusion policy; options override
    its acting config (``sampler``, ``sampler_steps``, ``action_horizon``)."""
    from adiff_env.planners.chunk_policy import KIND, ChunkPolicy
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ValueError("chunk agent spec needs a model: 'chunk:NAME', 'chunk:NAME@v2' or 'chunk:PATH'.")
    checkpoint = ModelRegistry().load(arg, kind=KIND)
    return ChunkPolicy.from_checkpoint(checkpoint, env, device=device, seed=int(seed), **overrides)


def register_kinds() -> None:
    register_agent("planner", _planner_factory,
                   "diffusion trajectory planner from the registry (PLANNER:NAME[@vN] | PLANNER:PATH)",
                   check_options=check_planner_options, check_arg=check_planner_arg)
    register_agent("chunk", _chunk_factory, "Diffusion-Policy-style action-chunk agent from the registry "
                   "(CHUNK:NAME[@vN] | CHUNK:PATH)")
