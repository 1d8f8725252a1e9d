"""The ``adiff`` command: noun-first groups that mirror the packages.

    adiff maze train|evolve          adiff code corpus|train|passk|evolve|tasks ...
    adiff models list|show           adiff agents list          adiff envs list
    adiff datasets collect|list|show adiff baselines train
    adiff evaluate                   adiff bench                adiff sandbox build|check
    adiff demo

Each group lives in its own small module under ``cli/`` with a ``register(subparsers)``
function; this file only wires them together. Heavy imports (torch, MuJoCo, docker) happen
inside the command functions, so ``adiff --help`` answers at once (a test checks that building
the parser imports no torch).

Errors (the rule of :mod:`adiff_env.errors`): a :class:`~adiff_env.errors.UserError` (bad
name, bad config value, missing dataset, checkpoint, engine or image;
:class:`~adiff_env.cli._common.CLIError`), or a ``ValueError`` / ``FileNotFoundError`` /
``FileExistsError`` that adiff-env's own code raised (its input checks, style rule 4), is
printed as one line, exit 2.
Anything else -- a ``TypeError``, ``KeyError``, ``AttributeError``, or a ``ValueError`` from
inside numpy, torch or the standard library -- is a bug and propagates with its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from adiff_env import __version__
from adiff_env.cli import agents as _agents
from adiff_env.cli import baseline as _baselines
from adiff_env.cli import bench as _bench
from adiff_env.cli import chunk as _chunk
from adiff_env.cli import code as _code
from adiff_env.cli import datasets as _datasets
from adiff_env.cli import demo as _demo
from adiff_env.cli import envs as _envs
from adiff_env.cli import evaluate as _evaluate
from adiff_env.cli import keys as _keys
from adiff_env.cli import maze as _maze
from adiff_env.cli import models as _models
from adiff_env.cli import planner as _planner
from adiff_env.cli import sandbox as _sandbox
from adiff_env.cli import serve as _serve
from adiff_env.cli._common import CLIError  # noqa: F401  (re-exported: the CLI's one-line error)
from adiff_env.errors import UserError

# Command modules in the order `adiff --help` lists them.
COMMAND_MODULES = [_demo, _evaluate, _bench, _maze, _planner, _code, _chunk, _models, _agents, _envs, _datasets, _baselines, _sandbox, _serve, _keys]

# Spellings of earlier versions -> the command that replaced them.
MOVED = {"train": "maze train", "evolve": "maze evolve", "tasks": "code tasks", "baseline": "baselines"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adiff",
        description=(
            "adiff-env: diffusion planners (Diffuser / AdaptDiffuser) in Gymnasium environments. "
            "Mazes and manipulation on MuJoCo, code generation in a Docker sandbox. Agents are named "
            "KIND[:ARG][?KEY=VALUE&KEY2=VALUE2] everywhere, e.g. planner:pointmaze-umaze?steps=5."
        ),
        epilog="Run 'adiff COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"adiff-env {__version__}")
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: torch's choice). On a small shared machine 1 is often fastest: "
        "batch-1 planning and small-model training gain little from threads and lose much when cores are busy",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _moved(argv: Sequence[str]) -> str | None:
    """The new spelling if ``argv`` starts (after global options) with a removed command name."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] == "--threads" else rest[1:]
    return MOVED.get(rest[0]) if rest else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    new = _moved(argv)
    if new is not None:
        old = next(a for a in argv if a in MOVED)
        print(f"adiff: '{old}' is now 'adiff {new}' (same options); run 'adiff {new} --help'.", file=sys.stderr)
        return 2
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "lazy_argv", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.rest = extra
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"adiff {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


_PACKAGE = Path(__file__).resolve().parents[1]


def is_user_error(exc: BaseException) -> bool:
    """The one-line rule of the module doc: a UserError, or a ValueError / FileNotFoundError /
    FileExistsError (the builtin types of input checks) raised by adiff-env's own code."""
    if isinstance(exc, UserError):
        return True
    if not isinstance(exc, (ValueError, FileNotFoundError, FileExistsError)):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _PACKAGE in Path(tb.tb_frame.f_code.co_filename).resolve().parents


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
