"""The maze examples run with a tiny budget, so they do not rot."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_random_agent_maze_example(capsys):
    import gymnasium as gym

    main = runpy.run_path(str(EXAMPLES / "random_agent_maze.py"))["main"]
    returns = main(650)
    assert len(returns) == 2 and returns == main(650)  # seeded actions and resets: the same episodes
    assert all(r == int(r) for r in returns)  # 1 per step at the goal: a whole number of steps
    out = capsys.readouterr().out
    env = gym.make("adiff/PointMaze-UMaze-v0")
    score = 100 * env.unwrapped.get_normalized_score(returns[1])
    env.close()
    assert f"episode 1: return {returns[1]:.0f}, normalized x100 {score:.1f}" in out


@pytest.mark.slow
def test_sac_her_maze_example(capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main = runpy.run_path(str(EXAMPLES / "sac_her_maze.py"))["main"]
        mean_return = main(400)
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert f"SAC+HER after 400 steps: return {mean_return:.1f}" in out  # the figure it prints is the one it returns
