"""The trajectory planner over a batch of envs: one sampler call for all envs due a plan,
per-env plan state, the same plan as single-env planning where that is well defined, and the
planner through ``adiff bench`` at two sampler step counts (score-vs-time plot)."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.cli.main import main
from adiff_env.planners.preset import PlannerPreset
from adiff_env.planners.train import train_planner
from adiff_env.planners.trajectory import TrajectoryPlanner
from adiff_env.registry import ModelRegistry

ENV = "adiff/PointMaze-UMaze-v0"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from adiff_env.datasets.collect import collect_dataset

    root = tmp_path_factory.mktemp("batched-planner")
    preset = PlannerPreset.from_dict({
        "name": "tiny", "env": ENV, "dataset": "test/umaze-batch-v0",
        "data": {"horizon": 16, "goal_mode": "hindsight", "min_goal_index": 4},
        "model": {"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]},
        "diffusion": {"n_timesteps": 8},
        "train": {"steps": 20, "batch_size": 8, "eval_every": 0, "checkpoint_every": 20, "inverse_dynamics_hidden": 0},
        "act": {"sampler": "ddim", "sampler_steps": 4, "replan_every": 4, "n_samples": 2},
    })
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        collect_dataset(ENV, 2000, seed=0, dataset_id="test/umaze-batch-v0", episode_steps=1000, progress=False)
        result = train_planner(preset, run_dir=root / "run", progress=False, registry=ModelRegistry(root / "home"))
    return result.checkpoint


def _observations(n: int, seed: int = 0) -> tuple[list[dict], dict]:
    env = gym.make(ENV)
    singles = [env.reset(seed=seed + i)[0] for i in range(n)]
    return singles, {k: np.stack([o[k] for o in singles]) for k in singles[0]}


def test_plan_batch_of_one_equals_single_plan(checkpoint):
    env = gym.make(ENV)
    a = TrajectoryPlanner.from_checkpoint(checkpoint, env, seed=7)
    b = TrajectoryPlanner.from_checkpoint(checkpoint, env, seed=7)
    (obs,), _ = _observations(1)
    s, g = obs["observation"], obs["desired_goal"]
    single = a.plan(s, g, 10)
    batch = b.plan_batch(s[None], g[None], [10])
    np.testing.assert_array_equal(batch[0], single)


def test_batched_predict_plans_each_env_in_one_sampler_call(checkpoint):
    env = gym.make(ENV)
    planner = TrajectoryPlanner.from_checkpoint(checkpoint, env, seed=0)
    singles, batch = _observations(3)
    actions, _ = planner.predict(batch, episode_start=np.ones(3, dtype=bool))
    assert actions.shape == (3, 2) and actions.dtype == np.float32 and np.abs(actions).max() <= 1
    stats = planner.eval_stats()
    assert stats["plans"] == 3 and stats["plan_calls"] == 1
    a = planner.action_dim
    for i, st in enumerate(planner.states):  # each env's plan starts at its own state and ends at its goal
        np.testing.assert_allclose(st.plan[0, a:], singles[i]["observation"], atol=1e-5)
        np.testing.assert_allclose(st.plan[-1, a : a + 2], singles[i]["desired_goal"], atol=1e-5)
    for _ in range(3):  # replan_every 4: steps 1..3 reuse the plans
        planner.predict(batch, episode_start=np.zeros(3, dtype=bool))
    assert planner.eval_stats()["plan_calls"] == 1
    planner.predict(batch, episode_start=np.array([False, True, False]))
    assert planner.eval_stats()["plans"] == 6  # step 4: all three replan, in one call
    assert [st.t for st in planner.states] == [5, 1, 5]


def test_batched_predict_agrees_with_per_env_actions_where_deterministic(checkpoint):
    """With the same plans, actions are a function of (state, plan, step): set each single-env
    planner's plan to the batched planner's and the PD actions agree exactly."""
    env = gym.make(ENV)
    batched = TrajectoryPlanner.from_checkpoint(checkpoint, env, seed=0)
    singles, batch = _observations(2, seed=3)
    actions, _ = batched.predict(batch, episode_start=np.ones(2, dtype=bool))
    for i, obs in enumerate(singles):
        one = TrajectoryPlanner.from_checkpoint(checkpoint, env, seed=0)
        one.state.goal = obs["desired_goal"].copy()
        one.state.deadline_t = batched.states[i].deadline_t
        one.state.plan = batched.states[i].plan
        np.testing.assert_array_equal(one.predict(obs)[0], actions[i])
        assert one.eval_stats()["plans"] == 0


@pytest.mark.slow
def test_bench_runs_planner_at_two_step_counts(checkpoint, tmp_path):
    agents = f"planner:{checkpoint.path}?steps=2,planner:{checkpoint.path}?steps=4&sampler=ddim"
    code = main(["bench", "maze", "--agents", agents, "--episodes", "2", "--seeds", "1", "--envs", "UMaze",
                 "--vector", "2", "--vector-mode", "sync", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    with open(tmp_path / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["sampler_steps"], r["batched"], r["n_envs"]) for r in rows] == [("2", "True", "2"), ("4", "True", "2")]
    assert all(float(r["plan_ms_median"]) > 0 and float(r["plans"]) >= 2 * 300 / 4 for r in rows)
    assert (tmp_path / "score_vs_time.png").read_bytes()[:4] == b"\x89PNG"
