"""`adiff evaluate` / `adiff demo` on the mazes, and the maze picture."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from matplotlib.figure import Figure

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.cli.main import main
from adiff_env.maze import load_maze_references
from adiff_env.maze.plotting import plot_maze, save_figure


def test_evaluate_expert_json(capsys):
    code = main(["evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "expert", "--episodes", "3", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    ref = load_maze_references()["adiff/PointMaze-UMaze-v0"]
    assert out["env"] == "adiff/PointMaze-UMaze-v0" and out["agent"] == "expert" and out["episodes"] == 3
    assert out["success_rate"] == 1.0 and out["episode_length_mean"] == 300
    expected = np.mean([(r - ref["ref_min_score"]) / (ref["ref_max_score"] - ref["ref_min_score"]) for r in out["returns"]])
    assert out["normalized_score_mean"] == pytest.approx(expected)
    assert out["normalized_score_x100_mean"] == pytest.approx(100 * expected)
    assert 0.5 < out["normalized_score_mean"] < 1.5  # the expert sits near 1 on the 0-1 scale


def test_evaluate_random_on_custom_layout_has_no_score(capsys):
    code = main([
        "evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "random:0", "--episodes", "1", "--json",
        "--env-kwarg", 'maze_map=[[1,1,1,1],[1,"r","g",1],[1,1,1,1]]', "--env-kwarg", "max_episode_steps=20",
    ])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["normalized_score_mean"] is None and out["episode_length_mean"] == 20


def test_evaluate_bad_layout_exits_2(capsys):
    code = main(["evaluate", "adiff/PointMaze-UMaze-v0", "--agent", "expert", "--env-kwarg", "layout=nosuch"])
    assert code == 2
    assert "Unknown maze layout 'nosuch'" in capsys.readouterr().err


def test_demo_writes_png_and_says_where(tmp_path, capsys):
    out = tmp_path / "pics" / "demo.png"
    assert main(["demo", "--out", str(out), "--seed", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert str(out) in printed and "success True" in printed
    assert "planner:pointmaze-umaze" in printed  # the shipped planner, no training step
    assert not list(out.parent.glob("*.tmp"))  # atomic write left nothing behind


def test_demo_rejects_non_png_and_non_maze(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["demo", "--env", "Pendulum-v1", "--out", str(tmp_path / "x.png")]) == 2
    assert "not a PointMaze env" in capsys.readouterr().err


def test_plot_maze_draws_paths_goal_and_coins(tmp_path):
    env = gym.make("adiff/PointMaze-Large-GoldCoin-v0")
    try:
        env.reset(seed=0)
        ax = Figure().add_subplot()
        path = np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 1.0]])
        assert plot_maze(env, paths={"executed": path, "planned": path + 0.1}, ax=ax, title="t") is ax
        labels = [line.get_label() for line in ax.get_lines()]
        assert {"executed", "planned", "goal", "coin"} <= set(labels)
        assert ax.get_xlim() == (-6.0, 6.0)  # 12 columns centred on 0
        plot_maze(env.unwrapped.maze, paths=[path])  # a bare Maze and a list of paths work too
        with pytest.raises(ValueError, match="shape"):
            plot_maze(env, paths=[np.zeros(3)])
        with pytest.raises(TypeError, match="PointMaze env"):
            plot_maze(object())
        saved = save_figure(ax.figure, tmp_path / "m.png")
        assert saved.stat().st_size > 1000
    finally:
        env.close()
