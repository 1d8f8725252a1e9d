"""The maze domain's agent kinds: ``expert`` and ``expert-tuned`` (entry points of the
``adiff_env.agents`` group, loaded on first use)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import register_agent


def _expert_factory(tuned: bool):
    def factory(arg: str, env: Any, noise_std: float | None = None, seed: int = 0) -> Any:
        from adiff_env.maze.expert import make_expert

        if noise_std is None:
            try:
                noise_std = float(arg) if arg else 0.0
            except ValueError:
                raise ValueError(
                    f"expert agent spec takes an optional action-noise std, e.g. 'expert:0.5'; got {arg!r}."
                ) from None
        return make_expert(env, tuned=tuned, noise_std=float(noise_std), seed=int(seed))

    return factory


def is_maze_env(env: Any) -> bool:
    """Whether ``env`` (wrapped or not) is one of our PointMaze envs."""
    unwrapped = getattr(env, "unwrapped", env)
    return hasattr(unwrapped, "geometry") and hasattr(unwrapped, "maze")


def register_kinds() -> None:
    register_agent("expert", _expert_factory(False), "D4RL waypoint expert for PointMaze (EXPERT[:NOISE_STD])",
                   applies_to=is_maze_env)
    register_agent("expert-tuned", _expert_factory(True),
                   "faster tuned waypoint expert for PointMaze (EXPERT-TUNED[:NOISE_STD])", applies_to=is_maze_env)
