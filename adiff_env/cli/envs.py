"""``adiff envs``: list the registered environment ids and agent kinds."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("envs", help="list environment ids and agent kinds")
    p.add_argument("what", nargs="?", choices=["ids", "agents"], default="ids")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "agents":
        from adiff_env.agents import agent_kinds

        for name, kind in sorted(agent_kinds().items()):
            print(f"{name:<14} {kind.help}")
        return 0
    import gymnasium as gym

    import adiff_env.maze  # noqa: F401

    for env_id in sorted(i for i in gym.registry if i.startswith("adiff/")):
        print(env_id)
    return 0
