"""Push failure phases (adiff_env.manipulation.diagnose) on synthetic block paths."""

import numpy as np
import pytest

from adiff_env.manipulation.diagnose import PUSH_PHASES, phase_counts, phase_rows, push_phase
from adiff_env.manipulation.rollouts import OBS_PREFIX, Rollout

TABLE_Z = 0.425
START, GOAL = np.array([1.3, 0.7, TABLE_Z]), np.array([1.5, 0.7, TABLE_Z])  # a 20 cm push along +x


def _rollout(final, *, via=None, steps: int = 10) -> Rollout:
    """Block path START -> (via) -> final; success / ever read from the path like the env does."""
    final = np.asarray(final, dtype=np.float64)
    points = [START] + ([np.asarray(via)] if via is not None else []) + [final]
    path = np.concatenate([np.linspace(a, b, steps) for a, b in zip(points[:-1], points[1:])])
    dist = np.linalg.norm(path[1:] - GOAL, axis=1)
    item = {OBS_PREFIX + "achieved_goal": path, OBS_PREFIX + "desired_goal": np.broadcast_to(GOAL, path.shape).copy()}
    return Rollout(item=item, success=bool(dist[-1] < 0.05), ever=bool(np.any(dist < 0.05)), ret=0.0, seed=7)


@pytest.mark.parametrize(("final", "via", "phase"), [
    (GOAL + [0.01, 0.0, 0.0], None, "ok"),
    (GOAL + [0.12, 0.0, 0.0], GOAL, "reached-then-left"),
    (START + [0.005, 0.0, 0.0], None, "never-moved"),
    (START + [0.15, 0.2, -0.3], None, "fell"),
    (START + [0.08, 0.01, 0.0], None, "short"),
    (GOAL + [0.15, 0.0, 0.0], GOAL + [0.0, 0.08, 0.0], "overshot"),  # round the goal, never in it
    (GOAL + [0.0, 0.09, 0.0], None, "off-line"),
])
def test_each_phase_from_the_block_path(final, via, phase):
    got = push_phase(_rollout(final, via=via), TABLE_Z)
    assert got.phase == phase
    assert got.start_distance == pytest.approx(0.2)
    assert got.final_distance == pytest.approx(float(np.linalg.norm(np.asarray(final) - GOAL)))


def test_along_and_across_are_the_line_coordinates():
    got = push_phase(_rollout(START + [0.15, -0.06, 0.0]), TABLE_Z)
    assert got.along == pytest.approx(0.15) and got.across == pytest.approx(-0.06)
    assert got.phase == "off-line" and got.first_success_step is None
    reached = push_phase(_rollout(GOAL, steps=10), TABLE_Z)
    assert reached.phase == "ok" and reached.first_success_step is not None and 0 <= reached.first_success_step < 9


def test_counts_list_every_phase_and_rows_are_plain():
    phases = [push_phase(_rollout(GOAL), TABLE_Z), push_phase(_rollout(GOAL + [0.0, 0.09, 0.0]), TABLE_Z)]
    counts = phase_counts(phases)
    assert list(counts) == list(PUSH_PHASES) and counts["ok"] == 1 and counts["off-line"] == 1 and sum(counts.values()) == 2
    rows = phase_rows(phases)
    assert rows[1]["phase"] == "off-line" and rows[1]["across"] == pytest.approx(0.09) and rows[0]["seed"] == 7


@pytest.mark.parametrize("kwargs", [{"moved_tol": 0.0}, {"line_tol": -0.01}])
def test_bad_tolerances_are_value_errors(kwargs):
    with pytest.raises(ValueError, match="must be > 0"):
        push_phase(_rollout(GOAL), TABLE_Z, **kwargs)
