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


def test_violations_count_block_moves_without_the_gripper(push):
    task = push.unwrapped.planning_task()
    h = 6
    plans = np.zeros((2, h, 25))
    plans[:, :, 3:6] = [1.3, 0.7, 0.42]
    plans[:, :, 0:3] = [1.26, 0.7, 0.42]  # the gripper 4 cm behind the block: in contact
    plans[0, 3:, 3] += 0.02  # pushed 2 cm at step 2 -> 3, the gripper at the block: feasible
    plans[0, 3:, 0] += 0.02
    plans[1, :, 0:3] = [1.0, 0.7, 0.6]  # the gripper 40 cm away
    plans[1, 2:, 4] += np.arange(1, h - 1) * 0.01  # the block slides 1 cm a step by itself: 4 steps
    np.testing.assert_array_equal(task.violations(plans), [0, 4])
    planner = _tiny_planner(push, rank="free-cells", n_samples=3)
    obs, _ = push.reset(seed=8)
    action, _ = planner.predict(obs, episode_start=True)  # the ranking runs through the planner
    assert action.shape == (4,) and np.all(np.abs(action) <= 1)


def test_violations_bad_input_and_bad_tolerances_are_clear_errors(push):
    from adiff_env.manipulation.task import FetchPlanningTask

    with pytest.raises(ValueError, match=r"planned states \[N, H, O >= 6\]"):
        push.unwrapped.planning_task().violations(np.zeros((4, 25)))
    with pytest.raises(ValueError, match="contact_reach and slide_tol must be > 0"):
        FetchPlanningTask(contact_reach=0.0)
    with pytest.raises(ValueError, match="contact_reach and slide_tol must be > 0"):
        FetchPlanningTask(slide_tol=-0.001)


def test_hold_tolerance_rests_at_the_goal_single_and_batched(push):
    obs, _ = push.reset(seed=9)
    at_goal = {**obs, "desired_goal": obs["achieved_goal"] + np.array([0.02, 0.0, 0.0])}  # 2 cm from the goal
    free = _tiny_planner(push)
    moving, _ = free.predict(at_goal, episode_start=True)
    assert np.any(moving != 0)  # the (untrained) plan's action
    held = _tiny_planner(push, hold_tolerance=0.03)
    action, _ = held.predict(at_goal, episode_start=True)
    np.testing.assert_array_equal(action, np.zeros(4, dtype=np.float32))
    assert held.state.plan is not None  # the plan is still made; only its action is replaced
    far, _ = _tiny_planner(push, hold_tolerance=0.01).predict(at_goal, episode_start=True)
    assert np.any(far != 0)  # 2 cm > 1 cm: the plan's action
    batch = {k: np.stack([v, v]) for k, v in at_goal.items()}
    batch["desired_goal"][1] = obs["achieved_goal"] + np.array([0.2, 0.0, 0.0])  # env 1: 20 cm away
    actions, _ = _tiny_planner(push, hold_tolerance=0.03).predict(batch, episode_start=np.array([True, True]))
    assert actions.shape == (2, 4) and np.all(actions[0] == 0) and np.any(actions[1] != 0)


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf")])
def test_hold_tolerance_bad_values_are_clear_errors(bad):
    with pytest.raises(ValueError, match="act.hold_tolerance must be a finite distance >= 0"):
        ActConfig(hold_tolerance=bad)
