"""``--ray [ADDRESS] --ray-actors N`` of ``adiff maze evolve`` and ``adiff code evolve``."""

from __future__ import annotations

import argparse
from typing import Any

from adiff_env.cli._common import CLIError


def ray_executor(args: argparse.Namespace, device: str) -> Any:
    """The Ray executor of ``--ray [ADDRESS] --ray-actors N`` (None without ``--ray``), checked
    before any work (the baseline's evaluation comes first)."""
    if args.ray_actors is not None and args.ray is None:
        raise CLIError("--ray-actors needs --ray.")
    if args.ray is None:
        return None
    import importlib.util

    from adiff_env.distributed.ray_evolve import RayGenerationExecutor
    from adiff_env.distributed.ray_queue import INSTALL_HINT

    if importlib.util.find_spec("ray") is None:
        raise CLIError(INSTALL_HINT)
    return RayGenerationExecutor(args.ray_actors, address=args.ray or None, progress=not args.quiet,
                                 num_gpus=1.0 if device.startswith("cuda") else 0.0)
