"""The worked examples of docs/extending.md (examples/extending_*.py) run, so the docs cannot rot."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _main(name: str):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))["main"]


def test_env_example_checks_registers_and_evaluates(capsys):
    main = _main("extending_env")
    first, second = main(4), main(4)  # a second run finds the id registered and must not re-register
    assert first == second  # random:0 and the reset seeds fix every action, start and goal
    out = capsys.readouterr().out
    assert out.count("example/Reach1D-v0: random agent, 4 episodes") == 2


def test_env_example_env_is_a_goal_env_her_can_relabel():
    import gymnasium as gym
    import numpy as np

    _main("extending_env")(1)
    env = gym.make("example/Reach1D-v0").unwrapped
    goals = np.array([[0.0], [0.5]])
    assert env.compute_reward(np.array([[0.01], [0.0]]), goals, {}).tolist() == [1.0, 0.0]


def test_denoiser_example_learns_straight_paths(capsys):
    result = _main("extending_denoiser")(300)
    assert result["ends_pinned"] == 1.0
    assert result["trained"] < 0.1 < result["untrained"]  # measured: 0.034 and 0.395
    assert "ends pinned exactly: True" in capsys.readouterr().out


def test_reward_example_guidance_moves_plans_towards_the_waypoint():
    scores = _main("extending_reward")(30.0)
    assert scores["guided"] > scores["unguided"] + 0.2  # measured: -0.656 against -1.005
    assert scores["guided_best"] >= scores["guided"]  # the reward ranks the candidates best first
    assert _main("extending_reward")(0.0)["guided"] == pytest.approx(scores["unguided"])  # scale 0: no guidance


def test_agent_example_registers_a_kind_and_its_options_reach_it(capsys):
    scores = _main("extending_agent")(4)
    assert scores["straight?gain=0"] == 0.0  # a ball that never moves never reaches the goal
    assert scores["straight"] > 0.0
    out = capsys.readouterr().out
    assert re.search(r"agent kinds: .*\bstraight\b", out) and "expert" in out


def test_agent_example_kind_refuses_an_unknown_option():
    import gymnasium as gym

    from adiff_env.agents import make_agent

    _main("extending_agent")(1)
    env = gym.make("adiff/PointMaze-UMaze-v0")
    try:
        with pytest.raises(ValueError, match="Unknown straight option 'gian'. Did you mean 'gain'"):
            make_agent("straight", env, {"gian": 1.0})
    finally:
        env.close()


def test_domain_example_expert_and_planner_use_the_domain(capsys):
    import gymnasium as gym

    from adiff_env.agents import make_agent
    from adiff_env.maze.expert import WaypointExpert

    result = _main("extending_domain")(3)
    assert result["expert_success"] == 1.0
    assert result["plans"] >= 2  # replans every 8 steps over 20 steps
    assert "through PointMassTask" in capsys.readouterr().out
    maze = gym.make("adiff/PointMaze-UMaze-v0")  # the shared kind name still serves the maze
    try:
        assert type(make_agent("expert", maze)) is WaypointExpert
    finally:
        maze.close()


def test_domain_example_task_is_a_planning_task():
    from adiff_env.planners.task import PlanningTask, check_task

    task = runpy.run_path(str(EXAMPLES / "extending_domain.py"))["PointMassTask"]()
    assert isinstance(task, PlanningTask)
    check_task(task, obs_dim=4, goal_dim=2)


def test_extending_md_quotes_the_examples_word_for_word():
    doc = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n# from (examples/[\w.]+\.py)\n(.*?)\n```", doc, flags=re.S)
    quoted = {path for path, _ in blocks}
    assert quoted == {f"examples/extending_{n}.py" for n in ("env", "denoiser", "reward", "agent", "domain")}
    for path, code in blocks:
        source = (ROOT / path).read_text(encoding="utf-8")
        for part in code.split("\n\n\n"):  # quoted definitions, as in the file
            assert part in source, f"docs/extending.md quotes code that is not (or no longer) in {path}:\n{part[:300]}"
