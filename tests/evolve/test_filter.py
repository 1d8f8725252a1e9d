"""The maze's consistency filter: feasible plans pass, plans through walls fail; the
learned-dynamics variant (generic model, maze PD rule)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.evolve.dynamics import fit_dynamics
from adiff_env.maze.expert import make_expert
from adiff_env.maze.filter import (
    DEFAULT_EPSILON,
    ConsistencyFilter,
    FilterConfig,
    LearnedDynamicsFilter,
    reset_to,
)

ENV = "adiff/PointMaze-UMaze-v0"


def expert_states(env, seed: int, steps: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    expert = make_expert(env)
    states, actions = [obs["observation"]], []
    for _ in range(steps - 1):
        a, _ = expert.predict(obs)
        obs, *_ = env.step(a)
        states.append(obs["observation"])
        actions.append(a)
    return np.array(states), np.array(actions), obs["desired_goal"]


def wall_plan(env, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A straight plan from one arm of the U to the other, through the wall between them."""
    maze = env.unwrapped.maze
    a, b = maze.cell_rowcol_to_xy(np.array([1, 1])), maze.cell_rowcol_to_xy(np.array([3, 1]))
    pos = a + np.linspace(0, 1, n)[:, None] * (b - a)
    vel = np.gradient(pos, axis=0) / env.unwrapped.point_env.dt
    return np.concatenate([pos, vel], axis=1), b


def test_reset_to_puts_the_ball_in_the_plan_state():
    env = gym.make(ENV)
    state = np.array([0.3, -0.2, 0.5, -0.1])
    obs = reset_to(env, state, np.array([1.0, 1.0]), seed=0)
    np.testing.assert_allclose(obs["observation"], state)
    np.testing.assert_allclose(obs["desired_goal"], [1.0, 1.0])


def test_expert_rollout_passes_and_is_returned_as_executed():
    env = gym.make(ENV)
    filt = ConsistencyFilter(env)
    for seed in range(3):
        states, _, goal = expert_states(env, seed)
        res = filt.check(states, goal, seed=seed)
        assert res.kept and res.deviation < DEFAULT_EPSILON / 2
        assert res.rollout["obs/observation"].shape == (60, 4) and res.rollout["actions"].shape == (59, 2)
        np.testing.assert_allclose(res.rollout["obs/observation"][0], states[0])
        assert res.deviations.shape == (60,) and res.deviations[0] == 0.0


def test_plan_through_a_wall_is_rejected():
    env = gym.make(ENV)
    plan, goal = wall_plan(env)
    res = ConsistencyFilter(env).check(plan, goal)
    assert not res.kept and res.deviation > 2 * DEFAULT_EPSILON
    with pytest.raises(ValueError, match="plan must be states"):
        ConsistencyFilter(env).check(plan[:, :2], goal)
    with pytest.raises(ValueError, match="epsilon"):
        FilterConfig(epsilon=0)


def test_learned_dynamics_filter_agrees_on_feasible_and_wall_plans():
    env = gym.make(ENV)
    rng = np.random.default_rng(0)
    s, a, s2 = [], [], []
    obs, _ = env.reset(seed=0)
    for t in range(3000):  # random actions: the model sees the whole action range and the walls
        if t % 200 == 0:
            obs, _ = env.reset(seed=t)
        act = rng.uniform(-1, 1, size=2).astype(np.float32)
        nxt, *_ = env.step(act)
        s.append(obs["observation"]), a.append(act), s2.append(nxt["observation"])
        obs = nxt
    expert = [expert_states(env, seed)[0] for seed in range(3)]
    for states in expert:  # expert transitions too, so tracking behaviour is in distribution
        s.extend(states[:-1]), s2.extend(states[1:])
        a.extend(np.clip(10 * (states[1:, :2] - states[:-1, :2]), -1, 1))
    model, mse = fit_dynamics(np.array(s), np.array(a), np.array(s2), steps=1500, seed=0)
    assert mse < 0.05
    plan, _ = wall_plan(env)
    length = min(len(plan), 40)
    plans = np.stack([expert[0][:length], plan[:length]])
    kept, dev, pred = LearnedDynamicsFilter(model).check_batch(plans)
    assert pred.shape == (2, length, 4)
    assert kept[0] and not kept[1] and dev[1] > 2 * dev[0]
    with pytest.raises(ValueError, match="aligned"):
        fit_dynamics(np.zeros((0, 4)), np.zeros((0, 2)), np.zeros((0, 4)))
