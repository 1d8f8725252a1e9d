"""The Fetch PlanningTask fits the real observation and pins the block at the deadline."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.datasets.normalizers import fit_normalizer
from adiff_env.diffusion import build_model, make_schedule
from adiff_env.planners.preset import ActConfig
from adiff_env.planners.task import check_task, planning_task_of
from adiff_env.planners.trajectory import TrajectoryPlanner


@pytest.fixture(scope="module")
def push():
    env = gym.make("adiff/FetchPush-v0")
    yield env
    env.close()


def test_goal_dims_are_the_block_position(push):
    obs, _ = push.reset(seed=4)
    task = planning_task_of(push, obs["observation"].shape[0], obs["desired_goal"].shape[0])
    check_task(task, 25, 3)
    np.testing.assert_allclose(obs["observation"][list(task.goal_dims)], obs["achieved_goal"])
    grip, block, goal = obs["observation"][:3], obs["achieved_goal"], obs["desired_goal"]
    assert task.path_length(obs["observation"], goal) == pytest.approx(
        np.linalg.norm(block - grip) + np.linalg.norm(goal - block))


def test_planner_pins_the_block_at_the_goal_from_the_deadline_on(push):
    obs, _ = push.reset(seed=5)
    a, o, h = 4, 25, 16
    rows = np.random.default_rng(0).normal(size=(64, a + o))
    model = build_model({"arch": "temporal_unet", "config": {"transition_dim": a + o, "horizon": h, "dim": 8,
                                                               "dim_mults": [1, 2]}})
    planner = TrajectoryPlanner(model, make_schedule("cosine", 4).to_dict(), "x0", fit_normalizer("gaussian", rows), h, a, o,
                                ActConfig(action="plan", sampler_steps=2), task=push.unwrapped.planning_task())
    cond = planner.conditioner(obs["observation"], obs["desired_goal"], 10)
    pinned = cond.mask.nonzero().tolist()
    assert {(r, c) for r, c in pinned if r >= 10} == {(r, a + d) for r in range(10, h) for d in (3, 4, 5)}
    raw = planner.normalizer.unnormalize(cond.values.numpy().astype(np.float64))
    np.testing.assert_allclose(raw[10:, a + 3 : a + 6], np.broadcast_to(obs["desired_goal"], (h - 10, 3)), atol=1e-5)
    plan = planner.plan(obs["observation"], obs["desired_goal"], 10)
    np.testing.assert_allclose(plan[12, a + 3 : a + 6], obs["desired_goal"], atol=1e-4)
    assert torch.is_tensor(cond.mask) and planner.act.action == "plan"
    with pytest.raises(ValueError, match="position_dims"):
        planner.set_act(ActConfig(action="pd", sampler_steps=2))


def _tiny_planner(push, **act):
    a, o, h = 4, 25, 16
    rows = np.random.default_rng(0).normal(size=(64, a + o))
    model = build_model({"arch": "temporal_unet", "config": {"transition_dim": a + o, "horizon": h, "dim": 8,
                                                               "dim_mults": [1, 2]}})
    return TrajectoryPlanner(model, make_schedule("cosine", 4).to_dict(), "x0", fit_normalizer("gaussian", rows), h, a, o,
                             ActConfig(action="plan", sampler_steps=2, deadline="horizon", replan_every=1, **act),
                             task=push.unwrapped.planning_task())


def test_settle_index_pins_the_goal_near_once_the_block_is_there(push):
    obs, _ = push.reset(seed=6)
    at_goal = {**obs, "desired_goal": obs["achieved_goal"].copy()}  # the block already on the goal
    old = _tiny_planner(push)  # settle_index 0 (default): the deadline stays at the horizon's last index
    old.predict(at_goal, episode_start=True)
    assert old.state.deadline_t == 15
    planner = _tiny_planner(push, settle_index=3)
    planner.predict(at_goal, episode_start=True)
    assert planner.state.deadline_t == 3  # step 0 + 3
    planner.predict(at_goal)
    assert planner.state.deadline_t == 4  # renewed at every replan while the block stays at the goal
    planner.predict(obs, episode_start=True)  # the goal 5+ cm away: the usual deadline
    far = np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) > 0.05
    assert far and planner.state.deadline_t == 15


def test_settle_index_bad_values_are_clear_errors(push):
    with pytest.raises(ValueError, match="act.settle_index must be >= 0"):
        ActConfig(settle_index=-1)
    with pytest.raises(ValueError, match="settle_index 16 must be below the plan's horizon 16"):
        _tiny_planner(push, settle_index=16)
