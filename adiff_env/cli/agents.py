"""``adiff agents list``: agent kinds and their options (the ``adiff_env.agents`` entry points)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agents", help="list agent kinds",
                       description="Agent kinds. An agent is named KIND[:ARG][?KEY=VALUE&KEY2=VALUE2] by every "
                                   "command (evaluate, bench, demo, evolve --from).")
    actions = p.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="list agent kinds (--options: with the option names each takes)")
    ls.add_argument("--options", action="store_true", help="also list each kind's option names")
    ls.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    from adiff_env.agents import agent_kinds, option_names

    for name, kind in sorted(agent_kinds().items()):
        print(f"{name:<14} {kind.help}")
        if args.options:
            names = option_names(name)
            print(f"{'':<14} options: {', '.join(names) if names else '(none)'}")
    return 0
