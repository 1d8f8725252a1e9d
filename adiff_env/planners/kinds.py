"""The ``planner`` agent kind (an entry point of the ``adiff_env.agents`` group)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import register_agent


def _planner_factory(arg: str, env: Any, sampler: str | None = None, steps: int | None = None, device: str = "cpu",
                     **act: Any) -> Any:
    """``planner:NAME``, ``planner:NAME@v2`` or ``planner:PATH``; options override the
    checkpoint's acting rules (``sampler``, ``steps`` = sampler steps, any ActConfig field);
    ``device`` is where it samples (``cpu``, ``cuda``)."""
    from adiff_env.planners.trajectory import TrajectoryPlanner
    from adiff_env.registry import ModelRegistry

    if not arg:
        raise ValueError("planner agent spec needs a model: 'planner:NAME', 'planner:NAME@v2' or 'planner:PATH'.")
    overrides = dict(act)
    if sampler is not None:
        overrides["sampler"] = sampler
    if steps is not None:
        overrides["sampler_steps"] = int(steps)
    checkpoint = ModelRegistry().load(arg, kind="trajectory-planner")
    return TrajectoryPlanner.from_checkpoint(checkpoint, env, device=device, **overrides)


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
                   "diffusion trajectory planner from the registry (PLANNER:NAME[@vN] | PLANNER:PATH)")
    register_agent("chunk", _chunk_factory, "Diffusion-Policy-style action-chunk agent from the registry "
                   "(CHUNK:NAME[@vN] | CHUNK:PATH)")
