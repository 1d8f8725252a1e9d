"""examples/collect_dataset.py runs (tiny budget) so it cannot rot."""

from __future__ import annotations

import runpy
import sys

from adiff_env.assets import asset_root


def test_example_runs(capsys, monkeypatch):
    script = asset_root("datasets").parent / "examples" / "collect_dataset.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--steps", "1500", "--horizon", "64"])
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "collected 1,500 steps" in out
    assert "episodes: 1, steps: 1,500" in out
    assert "trajectories (64, 6)" in out
    assert "goal-reaching windows:" in out
