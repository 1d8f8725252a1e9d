"""Where a Fetch push episode failed: one phase per executed episode (:func:`push_phase`).

The phases, decided from the block's path in a :class:`~adiff_env.manipulation.rollouts.Rollout`
(start ``b0``, goal ``g``, final ``b``; the push line is ``b0 -> g`` in the table plane)::

    ok                 success at the last step
    reached-then-left  inside the goal at some step, not at the last ("ever" but not final)
    never-moved        the block moved less than ``moved_tol`` (an approach failure)
    fell               the block ended below the table top (pushed off the table)
    short              ended more than ``line_tol`` before the goal along the line, within
                       ``line_tol`` of the line
    overshot           ended more than ``line_tol`` past the goal along the line, within it
    off-line           ended more than ``line_tol`` beside the line (sideways drift)

"along" is the final displacement's projection on the line, "across" its signed distance from
the line (m). Used by ``benchmarks/bench_fetch_push.py`` (docs/fetch-agents.md, "where push fails").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from adiff_env.manipulation.rollouts import OBS_PREFIX, Rollout

PUSH_PHASES = ("ok", "reached-then-left", "never-moved", "fell", "short", "overshot", "off-line")


@dataclass(frozen=True)
class PushPhase:
    """One episode's phase and the numbers that chose it (distances in m, steps from 0)."""

    seed: int
    phase: str
    start_distance: float  # |g - b0|
    final_distance: float  # |g - b| at the last step
    along: float  # final displacement along the push line
    across: float  # final displacement beside the line (signed)
    first_success_step: int | None  # first step with is_success, None if never


def push_phase(rollout: Rollout, table_z: float, *, moved_tol: float = 0.01, line_tol: float = 0.05) -> PushPhase:
    """The :class:`PushPhase` of one push rollout; ``table_z`` is the block's resting height
    (:func:`~adiff_env.manipulation.rollouts.table_height`): ending 5 cm below it counts as fallen."""
    if moved_tol <= 0 or line_tol <= 0:
        raise ValueError(f"moved_tol and line_tol must be > 0, got {moved_tol} and {line_tol}.")
    blocks = np.asarray(rollout.item[OBS_PREFIX + "achieved_goal"], dtype=np.float64)
    goal = np.asarray(rollout.item[OBS_PREFIX + "desired_goal"][0], dtype=np.float64)
    b0, b = blocks[0], blocks[-1]
    line = (goal - b0)[:2]
    length = float(np.linalg.norm(line))
    u = line / length if length > 1e-9 else np.array([1.0, 0.0])
    d = (b - b0)[:2]
    along, across = float(d @ u), float(u[0] * d[1] - u[1] * d[0])
    hits = np.flatnonzero(np.linalg.norm(blocks[1:] - goal, axis=1) < 0.05)
    first = int(hits[0]) if len(hits) and rollout.ever else None
    if rollout.success:
        phase = "ok"
    elif rollout.ever:
        phase = "reached-then-left"
    elif float(np.linalg.norm(b - b0)) < moved_tol:
        phase = "never-moved"
    elif b[2] < table_z - 0.05:
        phase = "fell"
    elif abs(across) <= line_tol and along < length - line_tol:
        phase = "short"
    elif abs(across) <= line_tol and along > length + line_tol:
        phase = "overshot"
    else:
        phase = "off-line"
    return PushPhase(seed=rollout.seed, phase=phase, start_distance=length, final_distance=float(np.linalg.norm(b - goal)),
                     along=along, across=across, first_success_step=first)


def phase_counts(phases: list[PushPhase]) -> dict[str, int]:
    """How many episodes ended in each phase (every phase listed, zeros included)."""
    seen = Counter(p.phase for p in phases)
    return {name: seen.get(name, 0) for name in PUSH_PHASES}


def phase_rows(phases: list[PushPhase]) -> list[dict[str, Any]]:
    """Plain rows (rounded to mm) for a JSON record."""
    return [{"seed": p.seed, "phase": p.phase, "d0": round(p.start_distance, 3), "final": round(p.final_distance, 3),
             "along": round(p.along, 3), "across": round(p.across, 3), "first": p.first_success_step} for p in phases]
