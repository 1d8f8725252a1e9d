"""Reward guidance in batched acting (a vector env's sub-envs in one sampler call): each env is
guided by a reward built on its own state, a batch of one guides exactly as single-env acting
does, and the vector evaluation hands the planner its sub-envs (sync: the envs, async: views
whose ``task_reward()`` runs in the sub-env's worker)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.bench.vector import SubEnvView, bind_agents, make_vector_env, sub_env_handles
from adiff_env.errors import ConfigError
from adiff_env.planners.task import route_hints

GOLD = "adiff/PointMaze-Medium-GoldCoin-v0"
GUIDED = {"reward": "task", "guidance": "x0", "guide_scale": 0.03, "sampler_steps": 2}


@pytest.fixture(scope="module")
def checkpoint():
    from adiff_env.registry import ModelRegistry

    return ModelRegistry().load("pointmaze-medium-evo", kind="trajectory-planner")


def _batch(observations):
    return {k: np.stack([o[k] for o in observations]) for k in observations[0]}


def test_a_batch_without_bound_envs_is_a_config_error(checkpoint):
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make(GOLD)
    planner = TrajectoryPlanner.from_checkpoint(checkpoint, env, **GUIDED)
    obs = [env.reset(seed=s)[0] for s in (0, 1)]
    with pytest.raises(ConfigError, match="bind_envs"):
        planner.predict(_batch(obs), episode_start=np.array([True, True]))
    with pytest.raises(ValueError, match="at least one"):
        planner.bind_envs([])
    env.close()


def test_each_env_of_a_batch_is_guided_by_its_own_state(checkpoint):
    from adiff_env.planners.trajectory import TrajectoryPlanner

    envs = [gym.make(GOLD) for _ in range(2)]
    obs = [e.reset(seed=5)[0] for e in envs]  # the same start in both
    envs[0].unwrapped.coins_collected[1] = 1  # env 0 has taken coin 1 (the one near this start), env 1 none
    planner = TrajectoryPlanner.from_checkpoint(checkpoint, envs[1], **GUIDED)
    planner.bind_envs(envs)
    actions = planner.predict(_batch(obs), episode_start=np.array([True, True]))[0]
    assert actions.shape == (2, 2) and np.isfinite(actions).all()
    coins = envs[0].unwrapped.coin_positions
    assert planner.states[0].hints.visit == (tuple(coins[0]),)  # only the coin it has not taken
    assert len(planner.states[1].hints.visit) == 2
    assert not np.allclose(planner.states[0].goal, planner.states[1].goal)  # routed to different coins
    for e in envs:
        e.close()


def test_a_batch_of_one_plans_exactly_as_single_env_acting(checkpoint):
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make(GOLD)
    obs, _ = env.reset(seed=7)
    planner = TrajectoryPlanner.from_checkpoint(checkpoint, env, **GUIDED, n_samples=2)
    s, goal = obs["observation"].astype(np.float64), obs["desired_goal"].astype(np.float64)
    reward = planner.reward_source()
    planner.state.reward = reward
    planner.generator.manual_seed(3)
    single = planner.plan(s, goal, 40)
    planner.generator.manual_seed(3)
    batched = planner.plan_batch(s[None], goal[None], [40], rewards=[reward])[0]
    assert np.allclose(single, batched, atol=1e-5)
    with pytest.raises(ConfigError, match="one reward per env"):
        planner.plan_batch(s[None], goal[None], [40])
    planner.generator.manual_seed(3)
    unguided = TrajectoryPlanner.from_checkpoint(checkpoint, env, sampler_steps=2, n_samples=2)
    unguided.generator.manual_seed(3)
    assert not np.allclose(unguided.plan(s, goal, 40), single, atol=1e-3)  # the guidance did act
    env.close()


def test_batched_guide_splits_rows_by_env_and_checks_the_batch(checkpoint):
    from adiff_env.planners.guided import batched_guided_kwargs
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make(GOLD)
    env.reset(seed=0)
    planner = TrajectoryPlanner.from_checkpoint(checkpoint, env, **GUIDED)
    full = planner.reward_source()
    env.unwrapped.coins_collected[:] = 1
    none_left = planner.reward_source()  # nothing to win: zero reward and gradient
    kw = batched_guided_kwargs(planner, [full, none_left])
    x = torch.zeros(2, planner.horizon, planner.action_dim + planner.obs_dim, requires_grad=True)
    kw["guide"](x, None).sum().backward()
    assert x.grad[0].abs().sum() > 0 and x.grad[1].abs().sum() == 0
    with pytest.raises(ValueError, match="2 envs x 1 candidates"):
        kw["guide"](torch.zeros(3, planner.horizon, planner.action_dim + planner.obs_dim), None)
    env.close()


def test_sync_vector_env_hands_its_sub_envs_to_the_planner(checkpoint):
    from adiff_env.agents import make_agent

    template = gym.make(GOLD)
    envs = make_vector_env(GOLD, 2, "sync")
    agent = make_agent("planner:pointmaze-medium-evo?reward=task&guidance=x0&guide_scale=0.03&steps=2", template)
    handles = sub_env_handles(envs, template)
    assert handles == list(envs.envs)
    bind_agents([agent], handles)
    assert [r.env for r in agent.reward_sources] == handles
    obs, _ = envs.reset(seed=[0, 1])
    envs.envs[1].unwrapped.coins_collected[:] = 1
    agent.predict(obs, episode_start=np.array([True, True]))
    assert len(agent.states[0].hints.visit) == 2 and not agent.states[1].hints  # env 1 has nothing left to take
    envs.close()
    template.close()


@pytest.mark.slow
def test_async_views_read_each_workers_state():
    template = gym.make(GOLD)
    envs = make_vector_env(GOLD, 2, "async")
    try:
        envs.reset(seed=[0, 1])
        envs.set_attr("coins_collected", [np.array([1, 0], dtype=np.int8), np.array([0, 0], dtype=np.int8)])
        views = sub_env_handles(envs, template)
        assert all(isinstance(v, SubEnvView) for v in views) and views[0].unwrapped is views[0]
        assert len(route_hints(views[0].task_reward()).visit) == 1
        assert len(route_hints(views[1].task_reward()).visit) == 2
        assert views[0].geometry is template.unwrapped.geometry  # static parts from the template
    finally:
        envs.close()
        template.close()
