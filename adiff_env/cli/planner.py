"""``adiff planner train``: the domain-neutral name of ``adiff maze train`` (same options).

``adiff maze train`` trains a trajectory planner from any preset in ``planners/`` (mazes and
Fetch alike); this group gives it a name that does not say "maze"::

    adiff planner train adiff/FetchPush-v0 --preset fetch-push [--steps N ...]
"""

from __future__ import annotations

import argparse

from adiff_env.cli.maze import add_train_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("planner", help="trajectory planners on any env with a preset (mazes, Fetch): train",
                       description="The diffusion trajectory planner on any env with a preset in planners/ "
                                   "(alias of 'adiff maze train').")
    cmds = p.add_subparsers(dest="planner_command", metavar="SUBCOMMAND", required=True)
    add_train_command(cmds)
