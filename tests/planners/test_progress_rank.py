"""Candidate ranking by time to the goal (``act.rank = "progress"``) and the maze's ``hurry``
reward: walls first, then the least route left at the next replan; bad values are clear errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.errors import ConfigError, UnknownNameError
from adiff_env.planners.preset import ActConfig
from adiff_env.planners.ranking import candidate_rank, progress_rank, route_left

MEDIUM = "adiff/PointMaze-Medium-v0"


@pytest.fixture(scope="module")
def planner():
    from adiff_env.planners.trajectory import TrajectoryPlanner
    from adiff_env.registry import ModelRegistry

    env = gym.make(MEDIUM)
    ckpt = ModelRegistry().load("pointmaze-medium-evo", kind="trajectory-planner")
    p = TrajectoryPlanner.from_checkpoint(ckpt, env, rank="progress", n_samples=3, sampler_steps=2)
    yield p
    env.close()


def _candidates(planner, positions_at_m, wall_at=None):
    """Normalized candidates ``[K, H, D]`` resting at ``(0.5, 0.5)`` except row ``m``."""
    a, h = planner.action_dim, planner.horizon
    raw = np.zeros((len(positions_at_m), h, a + planner.obs_dim))
    raw[:, :, a:a + 2] = (0.5, 0.5)
    m = planner.act.replan_every
    for i, p in enumerate(positions_at_m):
        raw[i, m, a:a + 2] = p
    if wall_at is not None:
        raw[wall_at, m + 1, a:a + 2] = (10.0, 10.0)  # outside the grid: a wall
    return torch.as_tensor(planner.normalizer.normalize(raw), dtype=torch.float32)


def test_progress_is_a_rank_rule_and_bad_rules_list_the_valid_ones():
    assert ActConfig(rank="progress").rank == "progress"
    with pytest.raises(UnknownNameError, match="progress"):
        ActConfig(rank="fastest")


def test_the_candidate_nearest_the_goal_at_the_next_replan_wins(planner):
    goal = np.array([2.5, -2.5])
    near, far = (2.5, -1.5), (0.5, -0.5)
    task = planner.task
    assert route_left(task, np.array([*near, 0, 0]), goal) < route_left(task, np.array([*far, 0, 0]), goal)
    place = progress_rank(planner, goal[None])(_candidates(planner, [far, near, far]))
    assert place.shape == (3,) and int(place.argmax()) == 1


def test_a_candidate_in_a_wall_never_wins(planner):
    goal = np.array([2.5, -2.5])
    x = _candidates(planner, [(0.5, -0.5), (2.5, -1.5)], wall_at=1)
    bad = planner.task.violations(planner.normalizer.unnormalize(x.numpy().astype(np.float64))[..., planner.action_dim:])
    assert bad[1] > bad[0]
    planner.act = ActConfig(rank="progress", n_samples=2, sampler_steps=2)
    try:
        assert int(progress_rank(planner, goal[None])(x).argmax()) == 0
    finally:
        planner.set_act(ActConfig(rank="progress", n_samples=3, sampler_steps=2))


def test_ranking_is_per_plan_in_a_batch_and_checks_the_row_count(planner):
    goals = np.array([[2.5, -2.5], [-1.5, 1.5]])
    x = torch.cat([_candidates(planner, [(0.5, -0.5), (2.5, -1.5), (0.5, -0.5)]),
                   _candidates(planner, [(-1.5, 1.5), (2.5, -1.5), (0.5, -0.5)])])
    place = progress_rank(planner, goals)(x)
    assert place.shape == (6,)
    assert int(place[:3].argmax()) == 1 and int(place[3:].argmax()) == 0  # each plan ranked toward its own goal
    with pytest.raises(ValueError, match="2 plans x 3 candidates"):
        progress_rank(planner, goals)(x[:5])


def test_other_rules_keep_the_planners_own_ranking(planner):
    planner.set_act(ActConfig(rank="free-cells", n_samples=3, sampler_steps=2))
    try:
        assert candidate_rank(planner, np.zeros((1, 2))) == planner._rank_reward
    finally:
        planner.set_act(ActConfig(rank="progress", n_samples=3, sampler_steps=2))


def test_progress_ranked_acting_runs_single_and_batched(planner):
    env = gym.make(MEDIUM)
    obs, _ = env.reset(seed=3)
    planner.reset()
    action, _ = planner.predict(obs, episode_start=np.array([True]))
    assert action.shape == (2,) and np.isfinite(action).all()
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    actions, _ = planner.predict(batch, episode_start=np.array([True, True]))
    assert actions.shape == (2, 2) and np.isfinite(actions).all()
    env.close()


def test_hurry_reward_is_the_time_to_the_plans_own_end():
    from adiff_env.maze.rewards import HurryReward, make_reward

    traj = np.zeros((10, 4))
    traj[:, 0] = np.linspace(0.0, 2.0, 10)  # within 0.5 of its end (x = 2) from index 7 (x = 1.56)
    assert HurryReward()(traj) == pytest.approx(-7 / 10)
    slow = np.zeros((1, 5, 4))
    slow[0, :, 0] = (0.0, 0.0, 0.0, 1.0, 2.0)
    fast = slow.copy()
    fast[0, :, 0] = (0.0, 1.0, 2.0, 2.0, 2.0)
    r = HurryReward().torch_reward(torch.as_tensor(np.concatenate([slow, fast]), dtype=torch.float32))
    assert r[1] > r[0]  # the plan that gets to its end sooner scores higher
    env = gym.make(MEDIUM)
    assert isinstance(make_reward("hurry", env), HurryReward)
    env.close()
    with pytest.raises(ValueError, match="radius"):
        HurryReward(radius=0.0)


def test_hurry_spec_is_checked_against_the_env():
    from adiff_env.planners.reward_spec import check_reward_spec

    env = gym.make(MEDIUM)
    terms = check_reward_spec("hurry+free-cells:0.5", env)
    assert [t.name for t in terms] == ["hurry", "free-cells"]
    with pytest.raises(ConfigError, match="takes no argument"):
        check_reward_spec("hurry[1,1]", env)
    with pytest.raises(UnknownNameError):
        check_reward_spec("hury", env)
    env.close()
