"""The shipped maze planners act exactly as before the layout move (planner core with a
PlanningTask instead of a maze): the returns below were recorded with the pre-move code
(commit 1ed4024, /work/runs/s13/returns_check.py) on the same reset seeds."""

import pytest

from adiff_env.evaluation import evaluate

RECORDED = [
    ("adiff/PointMaze-UMaze-v0", "planner:pointmaze-umaze", 0, [199.0, 235.0]),
    ("adiff/PointMaze-Medium-v0", "planner:pointmaze-medium-evo", 0, [474.0]),
    ("adiff/PointMaze-Large-v0", "planner:pointmaze-large", 0, [495.0]),
]


@pytest.mark.slow
@pytest.mark.parametrize("env_id, spec, seed, returns", RECORDED, ids=[r[1] for r in RECORDED])
def test_shipped_planners_give_the_recorded_returns(env_id, spec, seed, returns, tmp_path, monkeypatch):
    monkeypatch.setenv("ADIFF_HOME", str(tmp_path))
    result = evaluate(env_id, spec, episodes=len(returns), seed=seed)
    assert [float(r) for r in result.returns] == returns
