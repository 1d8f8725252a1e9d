"""The ``adiff`` command. Each command group lives in its own small module under ``cli/``
with a ``register(subparsers)`` function; this file only wires them together.

Heavy imports (torch, MuJoCo, docker) happen inside the command functions, so
``adiff --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adiff_env import __version__
from adiff_env.cli import baseline as _baseline
from adiff_env.cli import bench as _bench
from adiff_env.cli import code as _code
from adiff_env.cli import evaluate as _evaluate
from adiff_env.cli import datasets as _datasets
from adiff_env.cli import demo as _demo
from adiff_env.cli import envs as _envs
from adiff_env.cli import evolve as _evolve
from adiff_env.cli import keys as _keys
from adiff_env.cli import sandbox as _sandbox
from adiff_env.cli import serve as _serve
from adiff_env.cli import tasks as _tasks
from adiff_env.cli import train as _train

# Command modules in the order `adiff --help` lists them.
COMMAND_MODULES = [_demo, _evaluate, _bench, _train, _evolve, _code, _baseline, _datasets, _envs, _sandbox, _tasks, _serve, _keys]


class CLIError(Exception):
    """An error the CLI reports as one line on stderr with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adiff",
        description=(
            "adiff-env: diffusion planners (Diffuser / AdaptDiffuser) in Gymnasium environments. "
            "Mazes and manipulation on MuJoCo, code generation in a Docker sandbox."
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, CLIError) as exc:
        print(f"adiff {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
