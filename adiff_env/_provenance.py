"""Provenance for run records: the git commit of the code that ran, and package versions.

One ``git_commit()`` for every record that carries one: registry metadata (train and evolve
versions), ``run.json`` of planner and coder training, bench ``results.csv`` rows and
dataset metadata. It imports nothing of ours, so any package may use it (``diffusion/``
included, which must not import the registry).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the packages whose versions a dataset records (``name==version``)
PACKAGES = ("adiff-env", "gymnasium", "gymnasium-robotics", "mujoco", "minari")
_CHECKOUT = Path(__file__).resolve().parents[1]  # the folder holding adiff_env/


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=_CHECKOUT, capture_output=True, text=True, timeout=10, check=True
    ).stdout.strip()


@functools.lru_cache(maxsize=1)
def _head() -> str | None:
    try:
        top = Path(_git("rev-parse", "--show-toplevel")).resolve()
        if top != _CHECKOUT:  # e.g. a wheel installed in a venv inside some other repository
            return None
        return _git("rev-parse", "HEAD") or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit() -> str | None:
    """``HEAD`` of the checkout this package runs from, with ``-dirty`` when tracked files
    differ from it; None when the package is not a git checkout's own ``adiff_env/`` (an
    installed wheel, or git missing).

    Only a checkout whose top level holds this ``adiff_env/`` counts, so a wheel installed
    under some other repository never records that repository's commit.
    """
    head = _head()
    if head is None:
        return None
    try:
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return head
    return f"{head}-dirty" if dirty else head


def package_versions(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Pip-style pins (``name==version``) of the installed ``packages``; missing ones are left out."""
    out = []
    for name in packages:
        try:
            out.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def write_run_record(path: Path | str, record: Mapping[str, Any]) -> Path:
    """Write a run record (``run.json``) atomically: a temporary file beside it, then a rename.

    ``git_commit`` is filled from :func:`git_commit` unless ``record`` has one, so every
    record written through here says which code produced it. Returns ``path``.
    """
    path = Path(path)
    data = {"git_commit": git_commit(), **record}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
