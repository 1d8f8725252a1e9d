"""Baseline agent kinds: ``sb3``, ``bc``, ``iql``, ``cql`` (entry points of ``adiff_env.agents``)."""

from __future__ import annotations

from typing import Any

from adiff_env.agents import register_agent


def _sb3_factory(arg: str, env: Any) -> Any:
    from adiff_env.baselines.sb3 import load_sb3_agent

    return load_sb3_agent(arg, env)


def _offline_factory(algo: str):
    def factory(arg: str, env: Any, seed: int = 0) -> Any:
        from adiff_env.baselines.offline import load_offline_agent

        return load_offline_agent(algo, arg, env, seed=int(seed))

    return factory


def register_kinds() -> None:
    register_agent("sb3", _sb3_factory, "Stable-Baselines3 model (SB3:NAME[@vN] from the registry | SB3:PATH.zip)")
    for algo, what in (("bc", "goal-conditioned behaviour cloning"), ("iql", "implicit Q-learning"),
                       ("cql", "conservative Q-learning")):
        register_agent(algo, _offline_factory(algo),
                       f"offline {what} from the registry ({algo.upper()}:NAME[@vN] | {algo.upper()}:DIR)")
