"""Provenance recorded with every dataset: the git commit and the package versions."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

_PACKAGES = ("adiff-env", "gymnasium", "gymnasium-robotics", "mujoco", "minari")


def git_commit() -> str | None:
    """The checkout's ``HEAD`` commit (with ``-dirty`` if files changed), or None outside git."""
    repo = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head or None


def package_versions() -> list[str]:
    """Pip-style pins of the packages that produced the data (``name==version``)."""
    out = []
    for name in _PACKAGES:
        try:
            out.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
