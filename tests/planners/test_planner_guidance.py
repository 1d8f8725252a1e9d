"""Reward guidance as an acting option (``planner:NAME?reward=SPEC&guidance=...``): the spec
grammar and its errors, the reward rebuilt from the env at each replan, and guided plans that
move towards the reward on the shipped Medium planner."""

from __future__ import annotations

import types

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.agents import check_agent, make_agent
from adiff_env.errors import ConfigError, UnknownNameError
from adiff_env.planners.preset import GUIDANCE_METHODS, ActConfig
from adiff_env.planners.reward_spec import PlanReward, RewardTerm, check_reward_spec, parse_reward_spec

GOLD = "adiff/PointMaze-Medium-GoldCoin-v0"


@pytest.fixture(scope="module")
def gold_env():
    env = gym.make(GOLD)
    env.reset(seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def planner_checkpoint():
    from adiff_env.registry import ModelRegistry

    return ModelRegistry().load("pointmaze-medium-evo", kind="trajectory-planner")


# ------------------------------------------------------------------ grammar
@pytest.mark.parametrize("text, terms", [
    ("", ()),
    ("coins", (RewardTerm("coins", 1.0),)),
    ("task", (RewardTerm("task", 1.0),)),
    ("coins:1+free-cells:0.5", (RewardTerm("coins", 1.0), RewardTerm("free-cells", 0.5))),
    (" task + path-length:-0.01 ", (RewardTerm("task", 1.0), RewardTerm("path-length", -0.01))),
])
def test_reward_spec_grammar(text, terms):
    assert parse_reward_spec(text) == terms


@pytest.mark.parametrize("text, named", [
    ("+coins", "empty term"),
    ("coins+", "empty term"),
    (":2", "empty term"),
    ("coins:abc", "'abc'"),
    ("coins:nan", "finite"),
    ("coins:inf", "finite"),
    ("coins+coins:2", "twice"),
])
def test_bad_reward_specs_are_config_errors_naming_the_bad_part(text, named):
    with pytest.raises(ConfigError, match=named):
        parse_reward_spec(text)


def test_guidance_methods_match_the_engine():
    from adiff_env.diffusion.guidance import GUIDANCE_METHODS as ENGINE

    assert GUIDANCE_METHODS == ENGINE


@pytest.mark.parametrize("options, error, named", [
    ({"guide_scale": "-1"}, ConfigError, "-1"),
    ({"guide_scale": "inf"}, ConfigError, "inf"),
    ({"guide_steps": "-2"}, ConfigError, "-2"),
    ({"guidance": "dsp"}, UnknownNameError, "'dsp'"),
    ({"reward": "coins:x"}, ConfigError, "'x'"),
])
def test_bad_guidance_options_fail_before_any_checkpoint(options, error, named):
    query = "&".join(f"{k}={v}" for k, v in options.items())
    with pytest.raises(error, match=named):
        check_agent(f"planner:no-such-model?{query}")  # no registry lookup: the model name is never read
    with pytest.raises(error):
        ActConfig(**{k: type(getattr(ActConfig(), k))(v) for k, v in options.items()})


def test_guidance_options_are_typed():
    spec = check_agent("planner:any?reward=coins:1+free-cells:0.5&guidance=dps&guide_scale=3&guide_steps=1")
    assert spec.options == {"reward": "coins:1+free-cells:0.5", "guidance": "dps", "guide_scale": 3.0, "guide_steps": 1}


def test_reward_names_are_checked_against_the_env(gold_env):
    assert [t.name for t in check_reward_spec("task+coins:2+free-cells:0.5", gold_env)] == ["task", "coins", "free-cells"]
    with pytest.raises(UnknownNameError, match="'coinz'.*Did you mean 'coins'") as info:
        check_reward_spec("task+coinz", gold_env)
    assert {"coins", "free-cells", "goal", "task"} <= set(info.value.options)


def test_task_reward_on_an_env_without_one_is_a_config_error():
    class Plain:  # an env offering neither task_reward() nor named rewards
        spec = types.SimpleNamespace(id="plain/NoTask-v0")
        unwrapped = property(lambda self: self)

    with pytest.raises(ConfigError, match="reward 'task' needs an env with task_reward\\(\\); plain/NoTask-v0 has none"):
        check_reward_spec("task", Plain())


def test_bad_reward_name_fails_before_the_checkpoint_is_read(gold_env, monkeypatch):
    from adiff_env.registry import ModelRegistry

    def no_load(*args, **kwargs):
        raise AssertionError("the checkpoint was read before the reward spec was checked")

    monkeypatch.setattr(ModelRegistry, "load", no_load)
    with pytest.raises(UnknownNameError, match="'wall'"):
        make_agent("planner:pointmaze-medium-evo?reward=coins+wall:1", gold_env)


# ------------------------------------------------------------------ replans
def test_a_replan_after_a_coin_is_taken_no_longer_pays_for_it():
    env = gym.make(GOLD)
    env.reset(seed=3)
    u = env.unwrapped
    coin = u.coin_positions[0]
    states = np.concatenate([np.linspace(coin - [1.0, 0.0], coin, 12), np.zeros((12, 2))], axis=1)  # [12, 4], ends on coin 0
    x = torch.as_tensor(states, dtype=torch.float32)[None]
    for spec in ("coins", "task"):
        source = PlanReward(spec, env)
        before = source()
        assert before(states) >= (1.0 if spec == "coins" else u.coin_bonus)
        u.coins_collected[0] = 1  # the ball took coin 0
        after = source()
        assert after(states) <= before(states) - (1.0 if spec == "coins" else u.coin_bonus)
        assert float(after.torch_reward(x)) != pytest.approx(float(before.torch_reward(x)))
        assert before(states) >= 1.0  # a reward built earlier keeps its own copy of the coin state
        u.coins_collected[:] = 0
    env.close()


def test_maze_task_reward_without_coins_is_the_goal_term():
    env = gym.make("adiff/PointMaze-UMaze-v0")
    env.reset(seed=0)
    reward = env.unwrapped.task_reward()
    at_goal = np.tile(np.r_[env.unwrapped.goal, 0.0, 0.0], (5, 1))
    assert reward(at_goal) == pytest.approx(1.0)
    env.close()


# ------------------------------------------------------------------ the planner
def test_reward_guidance_needs_the_env_and_refuses_unbound_batches(planner_checkpoint, gold_env):
    from adiff_env.planners.trajectory import TrajectoryPlanner

    with pytest.raises(ConfigError, match="needs the env"):
        TrajectoryPlanner.from_checkpoint(planner_checkpoint, None, reward="coins")
    plain = TrajectoryPlanner.from_checkpoint(planner_checkpoint, gold_env)
    assert plain.reward_source is None and plain.act.reward == ""
    guided = TrajectoryPlanner.from_checkpoint(planner_checkpoint, gold_env, reward="coins")
    obs, _ = gold_env.reset(seed=0)
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    with pytest.raises(ConfigError, match="needs each env's own state"):
        guided.predict(batch, episode_start=np.array([True, True]))


@pytest.mark.slow
@pytest.mark.parametrize("method, scale", [("x0", 1.0), ("dps", 30.0)])
def test_guided_plans_move_towards_the_coins(planner_checkpoint, method, scale):
    """Same generator seed, same conditioning: the guided plan's coin reward (the torch form:
    minus the softmin distance to each coin) is higher than the unguided plan's, and its coin
    count is no lower. Goal-only plans (no subgoal) so the plan has room for a detour."""
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make(GOLD)
    act = {"subgoal_cells": 0, "deadline_speed": 0.05}
    plain = TrajectoryPlanner.from_checkpoint(planner_checkpoint, env, **act)
    guided = TrajectoryPlanner.from_checkpoint(planner_checkpoint, env, reward="coins", guidance=method,
                                               guide_scale=scale, **act)
    gains = []
    for seed in (11, 12, 13):
        obs, _ = env.reset(seed=seed)
        s, goal = obs["observation"].astype(np.float64), obs["desired_goal"].astype(np.float64)
        j = plain.initial_deadline(s, goal)
        reward = guided.reward_source()
        scores = []
        for planner in (plain, guided):
            planner.generator.manual_seed(seed)
            states = planner.plan(s, goal, j)[: j + 1, planner.action_dim:]
            scores.append((reward(states), float(reward.torch_reward(torch.as_tensor(states)[None])[0])))
        (count0, soft0), (count1, soft1) = scores
        assert count1 >= count0
        gains.append(soft1 - soft0)
    assert min(gains) > 0, gains
    env.close()


def test_guided_candidates_rank_walls_first_then_reward(planner_checkpoint, gold_env):
    from adiff_env.planners.guided import guided_rank
    from adiff_env.planners.trajectory import TrajectoryPlanner

    planner = TrajectoryPlanner.from_checkpoint(planner_checkpoint, gold_env, reward="coins", n_samples=3)
    u = gold_env.unwrapped
    h, a = planner.horizon, planner.action_dim

    def plan_at(*cells):  # a plan resting on each cell in turn, [H, A + O]
        xy = np.concatenate([np.tile(u._cell_xy(c), (h // len(cells) + 1, 1)) for c in cells])[:h]
        return np.concatenate([np.zeros((h, a)), xy, np.zeros((h, 2))], axis=1)

    coin_cell, wall_cell, goal_cell = (1, 6), (0, 6), (6, 6)
    plans = [plan_at(coin_cell), plan_at(goal_cell), plan_at(coin_cell, wall_cell)]  # coin; no coin; coin + walls
    x = torch.as_tensor(planner.normalizer.normalize(np.stack(plans)), dtype=torch.float32)
    place = guided_rank(planner, planner.reward_source())(x)
    # worst: in walls; then no coin; best: the coin in free cells (draw order alone would put 0 below 1)
    assert place.argsort().tolist() == [2, 1, 0]


def test_task_reward_on_fetch_avoid_and_not_on_plain_push():
    avoid, push = gym.make("adiff/FetchPush-Avoid-v0"), gym.make("adiff/FetchPush-v0")
    try:
        avoid.reset(seed=0)
        assert check_reward_spec("task", avoid) == (RewardTerm("task", 1.0),)
        assert hasattr(PlanReward("task", avoid)(), "torch_reward")
        with pytest.raises(ConfigError, match="adiff/FetchPush-v0 has none"):
            check_reward_spec("task", push)
    finally:
        avoid.close()
        push.close()
