"""Small pieces shared by the ``adiff`` command modules: the one-line error type, argparse
value types, the input checks long commands run first, and lazy mounting of a command module.

Nothing here imports torch, MuJoCo or docker at import time (``adiff --help`` stays fast).
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from adiff_env.errors import MissingResourceError, UserError

SANDBOX_BUILD = "uv run adiff sandbox build --offline"


class CLIError(UserError):
    """An error the CLI reports as one line on stderr with exit code 2 (a bad combination
    of options, say); every :class:`~adiff_env.errors.UserError` is reported the same way."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (underscores allowed, as in 1_000_000)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def parse_env_kwargs(pairs: list[str], flag: str = "--env-kwarg") -> dict[str, Any]:
    """``KEY=JSON`` pairs as a dict; a value that is no JSON stays text (``layout=umaze``)."""
    from adiff_env.agents import key_values

    out: dict[str, Any] = key_values(pairs, bad=lambda pair: f"{flag} expects KEY=JSON, got {pair!r}.",
                                     twice=lambda key: f"{flag} {key!r} is given twice.")
    for key, value in out.items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            pass
    return out


def require_sandbox(kind: str, tag: str | None = None) -> None:
    """Before a code command starts: with ``kind == "docker"`` the engine must answer and the
    sandbox image must exist, else :class:`MissingResourceError` with the exact fix."""
    if kind != "docker":
        return
    from adiff_env.sandbox.image import DEFAULT_IMAGE, docker_client, image_exists

    tag = tag or DEFAULT_IMAGE
    try:
        client = docker_client()
    except RuntimeError as exc:
        raise MissingResourceError(f"{exc} (Or run with --sandbox process: no isolation, for trusted code only.)") from None
    try:
        if not image_exists(client, tag):
            raise MissingResourceError(f"The sandbox image {tag} is missing; build it with `{SANDBOX_BUILD}` "
                                       "(or `uv run adiff sandbox build` where a registry is reachable).")
    finally:
        client.close()


def mount_lazily(sub: argparse._SubParsersAction, name: str, module: str, help: str,
                 prog: str, preflight: Callable[[list[str]], list[str]] | None = None) -> None:
    """Add command ``name`` whose parser lives in ``module`` (a ``register(subparsers)``
    function) without importing that module until the command runs: ``--help`` of the
    parent stays light even if ``module`` imports torch at the top. ``preflight(argv) ->
    argv`` checks the inputs (and may rewrite argv) before the module is imported."""
    p = sub.add_parser(name, help=help, add_help=False, description=help)
    p.set_defaults(func=_run_lazily(name, module, prog, preflight), lazy_argv=True)  # main() hands it the rest of argv


def _run_lazily(name: str, module: str, prog: str, preflight: Callable[[list[str]], list[str]] | None
                ) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        rest = preflight(list(args.rest)) if preflight is not None else list(args.rest)
        real = argparse.ArgumentParser(prog=prog)
        inner = real.add_subparsers(dest="lazy_command", required=True)
        importlib.import_module(module).register(inner)
        parsed = real.parse_args([name, *rest])
        for key in ("threads",):  # global options
            setattr(parsed, key, getattr(args, key, None))
        return parsed.func(parsed)

    return run


def split_csv(text: str | None) -> Sequence[str] | None:
    return tuple(e.strip() for e in text.split(",") if e.strip()) if text else None


def check_env_id(env_id: str) -> str:
    """``env_id`` must be registered with Gymnasium (``import adiff_env`` registers ours)."""
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ ids)
    from adiff_env.errors import UnknownNameError

    if env_id not in gym.registry:
        raise UnknownNameError("env id", env_id, [i for i in gym.registry if i.startswith("adiff/")] or gym.registry,
                               plural="adiff env ids")
    return env_id
