"""The manipulation domain's agent kinds: ``expert`` (and ``expert-tuned``, the same scripted
expert) on Fetch envs, next to the maze's experts (entry points of ``adiff_env.agents``)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import register_agent
from adiff_env.manipulation import is_fetch_env


def _fetch_expert_factory(arg: str, env: Any, noise_std: float | None = None, seed: int = 0) -> Any:
    from adiff_env.manipulation.expert import make_fetch_expert

    if noise_std is None:
        try:
            noise_std = float(arg) if arg else 0.0
        except ValueError:
            raise ValueError(f"expert agent spec takes an optional action-noise std, e.g. 'expert:0.2'; got {arg!r}.") from None
    return make_fetch_expert(env, noise_std=float(noise_std), seed=int(seed))


def register_kinds() -> None:
    for name in ("expert", "expert-tuned"):
        register_agent(name, _fetch_expert_factory, "scripted Fetch expert: push / pick-and-place (EXPERT[:NOISE_STD])",
                       applies_to=is_fetch_env)
