"""``adiff envs list``: the registered environment ids (``import adiff_env`` registers them)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("envs", help="list environment ids", description="Environment ids registered by adiff-env.")
    actions = p.add_subparsers(dest="envs_command", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="list the adiff/ env ids and their entry points")
    ls.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ ids)

    for env_id in sorted(i for i in gym.registry if i.startswith("adiff/")):
        spec = gym.registry[env_id]
        entry = spec.entry_point if isinstance(spec.entry_point, str) else getattr(spec.entry_point, "__name__", "?")
        print(f"{env_id:<40} {entry}")
    return 0
