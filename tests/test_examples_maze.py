"""The maze examples run with a tiny budget, so they do not rot."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_random_agent_maze_example(capsys):
    main = runpy.run_path(str(EXAMPLES / "random_agent_maze.py"))["main"]
    returns = main(650)
    assert len(returns) == 2 and all(r >= 0 for r in returns)
    assert "episode 1: return" in capsys.readouterr().out


@pytest.mark.slow
def test_sac_her_maze_example(capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main = runpy.run_path(str(EXAMPLES / "sac_her_maze.py"))["main"]
        mean_return = main(400)
    finally:
        torch.set_num_threads(threads)
    assert 0.0 <= mean_return <= 300.0
    assert "SAC+HER after 400 steps" in capsys.readouterr().out
