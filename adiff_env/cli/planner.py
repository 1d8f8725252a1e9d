"""``adiff planner train|evolve``: the domain-neutral name of ``adiff maze train``, and Fetch's evolution.

``adiff maze train`` trains a trajectory planner from any preset in ``planners/`` (mazes and
Fetch alike); this group gives it a name that does not say "maze"::

    adiff planner train adiff/FetchPush-v0 --preset fetch-push [--steps N ...]
    adiff planner evolve adiff/FetchPickAndPlace-v0 --from planner:NAME --env-kwarg goal_region='"air"' ...

``evolve`` (:mod:`adiff_env.cli.evolve_fetch`) adapts a Fetch planner to an unseen task; it is
mounted without importing it (MuJoCo, torch) until it runs.
"""

from __future__ import annotations

import argparse

from adiff_env.cli._common import mount_lazily
from adiff_env.cli.maze import add_train_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("planner", help="trajectory planners on any env with a preset (mazes, Fetch): train; evolve (Fetch)",
                       description="The diffusion trajectory planner on any env with a preset in planners/ "
                                   "(alias of 'adiff maze train').")
    cmds = p.add_subparsers(dest="planner_command", metavar="SUBCOMMAND", required=True)
    add_train_command(cmds)
    mount_lazily(cmds, "evolve", "adiff_env.cli.evolve_fetch", prog="adiff planner",
                 help="adapt a Fetch planner to an unseen task, e.g. air goals from table-only data (AdaptDiffuser: "
                      "closed-loop rollouts, hindsight goals, buffer, fine-tune, register only if better)")
    mount_lazily(cmds, "workspace", "adiff_env.cli.evolve_fetch", prog="adiff planner",
                 help="widen a Fetch planner's normalizer to the task's workspace (air heights) and train it on its own data")
