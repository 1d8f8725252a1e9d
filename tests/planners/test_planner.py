"""Trajectory planner: preset parsing, conditioning, acting rules, and a tiny real training
run (real Minari data on disk, real MuJoCo maze) whose checkpoint is loaded back and evaluated."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.cli.main import main
from adiff_env.errors import UnknownNameError
from adiff_env.planners.preset import ActConfig, PlannerPreset, load_preset
from adiff_env.planners.train import train_planner, training_conditioner
from adiff_env.planners.trajectory import TrajectoryPlanner
from adiff_env.registry import ModelRegistry

ENV = "adiff/PointMaze-UMaze-v0"


def tiny_preset(dataset: str, **train) -> PlannerPreset:
    return PlannerPreset.from_dict({
        "name": "tiny", "env": ENV, "dataset": dataset,
        "data": {"horizon": 16, "goal_mode": "hindsight", "min_goal_index": 4},
        "model": {"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]},
        "diffusion": {"n_timesteps": 8},
        "train": {"steps": 40, "batch_size": 16, "eval_every": 0, "checkpoint_every": 20, "inverse_dynamics_hidden": 16, **train},
        "act": {"sampler": "ddim", "sampler_steps": 4, "replan_every": 4},
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Collect 4,000 real steps and train a tiny planner on them (seconds)."""
    from adiff_env.datasets.collect import collect_dataset

    root = tmp_path_factory.mktemp("planner")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        mp.setenv("ADIFF_HOME", str(root / "home"))
        collect_dataset(ENV, 4000, seed=0, dataset_id="test/umaze-tiny-v0", episode_steps=1000, progress=False)
        result = train_planner(tiny_preset("test/umaze-tiny-v0"), run_dir=root / "run", progress=False,
                               registry=ModelRegistry(root / "home" / "models"))
        yield result, root


def test_preset_files_load_and_validate(tmp_path):
    preset = load_preset("pointmaze-umaze")
    assert preset.env == ENV and preset.data.horizon % 4 == 0
    with pytest.raises(UnknownNameError, match="pointmaze-umaze"):
        load_preset("pointmaze-umaz")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nenv = "e"\ndataset = "d"\n[train]\nstepz = 3\n')
    with pytest.raises(ValueError, match=r"Unknown TrainConfig key 'stepz'"):
        load_preset(bad)
    with pytest.raises(FileNotFoundError):
        load_preset(tmp_path / "missing.toml")
    with pytest.raises(UnknownNameError, match="action rule"):
        ActConfig(action="teleport")
    with pytest.raises(ValueError, match="replan_every"):
        ActConfig(replan_every=0)


def test_training_conditioner_pins_start_and_resting_goal():
    x = torch.randn(2, 8, 6)
    cond = training_conditioner(x, torch.tensor([3, 7]), action_dim=2)
    m = cond.mask
    assert m[:, 0, 2:].all() and not m[:, 0, :2].any()  # start state, not its action
    assert m[0, 3:].all() and not m[0, 1:3].any()
    assert m[1, 7:].all() and not m[1, 1:7].any()
    torch.testing.assert_close(cond.apply(torch.zeros_like(x))[m], x[m])


def test_maze_task_deadline_follows_corridors():
    env = gym.make(ENV)
    task = env.unwrapped.planning_task()
    g = task.geometry
    a, b = g.cell_center((1, 1)), g.cell_center((3, 1))  # the U's two arms
    assert np.linalg.norm(a - b) == pytest.approx(2.0)
    assert task.path_length(np.r_[a, 0.0, 0.0], b) == pytest.approx(6.0)  # around the wall


def test_tiny_training_run_registers_a_checkpoint(trained):
    result, root = trained
    assert result.steps == 40 and np.isfinite(result.final_loss)
    ckpt = result.checkpoint
    assert ckpt.metadata.kind == "trajectory-planner" and ckpt.metadata.steps == 40
    assert (result.run_dir / "resume.pt").exists() and (result.run_dir / "run.json").exists()
    assert list((result.run_dir / "tb").iterdir()), "no TensorBoard event file"
    assert ckpt.config["dims"] == {"horizon": 16, "action_dim": 2, "obs_dim": 4}


def test_resume_continues_to_more_steps(trained, tmp_path):
    result, root = trained
    import shutil

    run = tmp_path / "run"
    shutil.copytree(result.run_dir, run)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        more = train_planner(tiny_preset("test/umaze-tiny-v0", steps=50), run_dir=run, resume=True, progress=False,
                             registry=ModelRegistry(tmp_path / "models"))
    assert more.steps == 50 and more.checkpoint.metadata.steps == 50
    with pytest.raises(FileNotFoundError, match="resume.pt"):
        train_planner(tiny_preset("x"), run_dir=tmp_path / "empty", resume=True, progress=False)


def _planner(trained, **over) -> tuple[TrajectoryPlanner, gym.Env]:
    result, _ = trained
    env = gym.make(ENV)
    return TrajectoryPlanner.from_checkpoint(result.checkpoint, env, seed=3, **over), env


def test_plans_respect_inpainted_start_and_goal(trained):
    planner, env = _planner(trained)
    obs, _ = env.reset(seed=1)
    s, goal = obs["observation"].astype(np.float64), obs["desired_goal"].astype(np.float64)
    plan = planner.plan(s, goal, steps_left=10)
    assert plan.shape == (16, 6)
    np.testing.assert_allclose(plan[0, 2:], s, atol=1e-4)
    np.testing.assert_allclose(plan[10:, 2:4], np.broadcast_to(goal, (6, 2)), atol=1e-4)
    np.testing.assert_allclose(plan[10:, 4:], 0.0, atol=1e-4)
    np.testing.assert_allclose(plan[10:, :2], 0.0, atol=1e-4)


def test_same_seed_same_plans_after_reload(trained):
    p1, env = _planner(trained)
    p2, _ = _planner(trained)
    obs, _ = env.reset(seed=2)
    acts1 = [p1.predict(obs, episode_start=i == 0)[0] for i in range(6)]
    acts2 = [p2.predict(obs, episode_start=i == 0)[0] for i in range(6)]
    np.testing.assert_array_equal(np.stack(acts1), np.stack(acts2))


@pytest.mark.parametrize("rule", ["pd", "inverse-dynamics", "plan"])
def test_action_rules_give_valid_actions(trained, rule):
    planner, env = _planner(trained, action=rule)
    obs, _ = env.reset(seed=0)
    for i in range(5):
        action, _ = planner.predict(obs, episode_start=i == 0)
        assert env.action_space.contains(action)
        obs, *_ = env.step(action)
    assert planner.eval_stats()["plans"] == 2  # replan_every 4: steps 0 and 4


def test_pd_rule_math(trained):
    planner, _ = _planner(trained, action="pd", lookahead=1, kp=2.0, kd=0.5)
    plan = np.zeros((16, 6))
    plan[1, 2:] = [0.3, -0.2, 0.1, 0.0]
    s = np.array([0.0, 0.0, 0.2, 0.2])
    expected = 2.0 * np.array([0.3, -0.2]) + 0.5 * (np.array([0.1, 0.0]) - np.array([0.2, 0.2]))
    np.testing.assert_allclose(planner.action_from_plan(s, plan, 0), expected, rtol=1e-6)


def test_deadline_is_kept_across_replans(trained):
    planner, env = _planner(trained, replan_every=1)
    obs, _ = env.reset(seed=4)
    planner.predict(obs, episode_start=True)
    first = planner.state.deadline_t
    for _ in range(3):
        obs, *_ = env.step(planner.predict(obs)[0])
    assert planner.state.deadline_t == first and planner.state.t == 4


def test_subgoal_is_k_cells_ahead_on_the_cell_path_and_held_between_replans(trained):
    planner, env = _planner(trained, subgoal_cells=2, replan_every=4)
    u = env.unwrapped
    # U-Maze route from (3,1) to the goal (1,1): (3,1) (3,2) (3,3) (2,3) (1,3) (1,2) (1,1)
    obs, _ = env.reset(seed=0, options={"reset_cell": (3, 1)})
    planner.predict(obs, episode_start=True)
    np.testing.assert_allclose(planner.state.goal, u._cell_xy((3, 3)))
    np.testing.assert_allclose(planner.state.final_goal, obs["desired_goal"])
    plan = planner.state.plan  # conditioned on the subgoal: the plan rests there
    np.testing.assert_allclose(plan[-1, 2:4], u._cell_xy((3, 3)), atol=1e-4)
    # between replans the subgoal is held, even when the ball sits in another cell
    moved = {**obs, "observation": np.r_[u._cell_xy((3, 2)), 0.0, 0.0].astype(obs["observation"].dtype)}
    planner.predict(moved)
    np.testing.assert_allclose(planner.state.goal, u._cell_xy((3, 3)))
    for _ in range(2):
        planner.predict(moved)
    planner.predict(moved)  # step 4: a replan is due, the subgoal moves 2 cells ahead of (3,2)
    np.testing.assert_allclose(planner.state.goal, u._cell_xy((2, 3)))
    # within k cells of the goal the plan goes to the goal itself
    near = {**obs, "observation": np.r_[u._cell_xy((1, 3)), 0.0, 0.0].astype(obs["observation"].dtype)}
    planner.predict(near, episode_start=True)
    np.testing.assert_allclose(planner.state.goal, obs["desired_goal"])
    # the batched path picks the same subgoals
    batch = {k: np.stack([np.asarray(v)] * 2) for k, v in obs.items()}
    planner.predict(batch, episode_start=np.array([True, True]))
    for st in planner.states:
        np.testing.assert_allclose(st.goal, u._cell_xy((3, 3)))
    with pytest.raises(ValueError, match="subgoal_cells must be >= 0"):
        ActConfig(subgoal_cells=-1)


def test_sb3_evaluate_policy_runs_the_planner(trained):
    from stable_baselines3.common.evaluation import evaluate_policy

    planner, _ = _planner(trained)
    env = gym.make(ENV, max_episode_steps=12)
    rewards, lengths = evaluate_policy(planner, env, n_eval_episodes=2, deterministic=True, return_episode_rewards=True)
    assert lengths == [12, 12]  # both episodes ran to the time limit with the planner acting every step
    assert all(float(r).is_integer() and 0 <= r <= 12 for r in rewards)  # 1 per step inside the goal disk


def test_cli_evaluate_planner_json_and_sampler_override(trained, capsys):
    result, _ = trained
    spec = f"planner:{result.checkpoint.path}"
    code = main(["evaluate", ENV, "--agent", spec, "--episodes", "1", "--json", "--sampler", "ddpm",
                 "--env-kwarg", "max_episode_steps=10"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sampler"] == "ddpm" and out["steps"] == 8  # ddpm: the training step count
    assert out["plan_ms_median"] > 0 and out["plans"] >= 1
    code = main(["evaluate", ENV, "--agent", spec, "--episodes", "1", "--json", "--steps", "2",
                 "--env-kwarg", "max_episode_steps=5"])
    assert json.loads(capsys.readouterr().out)["steps"] == 2


def test_planner_spec_errors(trained, capsys):
    env = gym.make(ENV)
    with pytest.raises(ValueError, match="needs a model"):
        make_agent("planner", env)
    assert main(["evaluate", ENV, "--agent", "planner:nosuchmodel", "--episodes", "1"]) == 2
    assert "nosuchmodel" in capsys.readouterr().err
    result, _ = trained
    with pytest.raises(ValueError, match="exceeds"):
        make_agent(f"planner:{result.checkpoint.path}", env, {"steps": 99})
    with pytest.raises(ValueError, match="does not take"):
        make_agent("random", env, {"steps": 3})


def test_global_condition_vector_and_checkpoint_config(trained):
    from adiff_env.planners.trajectory import global_condition

    start, goal = torch.tensor([[0.1, 0.2, 0.3, 0.4]]), torch.tensor([[0.5, 0.6]])
    vec = global_condition(start, goal, torch.tensor([4]), horizon=16)
    torch.testing.assert_close(vec, torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.25]]))
    result, _ = trained
    assert result.checkpoint.config["global_cond"] is True
    assert result.checkpoint.config["model"]["config"]["cond_dim"] == 4 + 3
    planner, _ = _planner(trained)
    assert planner.global_cond


@pytest.mark.parametrize("name, env_id, subgoals", [
    ("pointmaze-umaze", "adiff/PointMaze-UMaze-v0", 0),
    ("pointmaze-medium-evo@v2", "adiff/PointMaze-Medium-v0", 0),
    ("pointmaze-medium-evo", "adiff/PointMaze-Medium-v0", 2),
    ("pointmaze-large", "adiff/PointMaze-Large-v0", 2),
    ("pointmaze-large-distilled", "adiff/PointMaze-Large-v0", 2),  # v2: a 64-row student
    ("pointmaze-umaze-distilled", "adiff/PointMaze-UMaze-v0", 0),
    ("pointmaze-medium-distilled", "adiff/PointMaze-Medium-v0", 2),
])
def test_shipped_maze_planners_load_verified_and_plan(name, env_id, subgoals, tmp_path, monkeypatch):
    """The checkpoints under planners/pretrained/ resolve with an empty ADIFF_HOME, pass the
    checksum check, act with their recorded options and make a plan that starts at the agent."""
    monkeypatch.setenv("ADIFF_HOME", str(tmp_path))
    env = gym.make(env_id)
    try:
        planner = make_agent(f"planner:{name}", env)
        assert planner.act.subgoal_cells == subgoals
        obs, _ = env.reset(seed=0)
        planner.predict(obs, episode_start=True)
        np.testing.assert_allclose(planner.state.plan[0, 2:], obs["observation"], atol=1e-3)
        if subgoals:  # reset seed 0 starts far from the goal: the plan rests at the centre of a
            # cell 2 cells along the route, 2 cells nearer the goal
            from adiff_env.maze.layout import bfs_distances

            paths, sub = planner.task.geometry, planner.state.goal
            to_goal = bfs_distances(env.unwrapped.layout, paths.cell_of(obs["desired_goal"]))
            start, cell = paths.cell_of(obs["achieved_goal"]), paths.cell_of(sub)
            assert to_goal[start] > 2
            np.testing.assert_allclose(sub, env.unwrapped._cell_xy(cell))
            assert bfs_distances(env.unwrapped.layout, start)[cell] == 2 and to_goal[cell] == to_goal[start] - 2
    finally:
        env.close()
