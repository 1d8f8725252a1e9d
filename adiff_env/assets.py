"""Find the data folders (``envs/``, ``planners/``, ``datasets/``) in a checkout or a wheel.

In a source checkout they sit at the repository root, next to the ``adiff_env`` package; an
installed wheel carries them as package data under ``adiff_env/_assets/``. Code never builds
these paths by hand: it calls :func:`asset_path`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_TOP_LEVEL = ("envs", "planners", "datasets")


def asset_root(kind: str) -> Path:
    """Return the folder for one asset kind: ``"envs"``, ``"planners"`` or ``"datasets"``."""
    if kind not in _TOP_LEVEL:
        raise ValueError(f"Unknown asset kind {kind!r}; expected one of {', '.join(_TOP_LEVEL)}.")
    for candidate in (_PACKAGE_DIR.parent / kind, _PACKAGE_DIR / "_assets" / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"Asset folder {kind!r} not found next to the package ({_PACKAGE_DIR.parent}) nor "
        f"inside it ({_PACKAGE_DIR / '_assets'}); the installation is incomplete."
    )


def asset_path(kind: str, *parts: str) -> Path:
    """Path of a file inside an asset folder, e.g. ``asset_path("envs", "mazes", "umaze.txt")``.

    The path is returned whether or not the file exists; callers that need the file raise
    their own error naming what they were looking for.
    """
    return asset_root(kind).joinpath(*parts)
