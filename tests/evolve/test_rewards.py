"""Rewards: the maze's (numpy and torch forms agree in direction), the generic composites and
lookup by name, Bradley-Terry preferences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.errors import UnknownNameError
from adiff_env.evolve.rewards import (
    Composite,
    PreferenceReward,
    build_reward,
    has_torch,
    planner_guide,
    resample_positions,
    reward_factories,
)
from adiff_env.maze.rewards import (
    REWARD_NAMES,
    CoinReward,
    FreeCellReward,
    GoalReward,
    PathLengthReward,
    TimeToGoalReward,
    make_reward,
    task_reward,
)


def path(a, b, n=20):
    return np.linspace(a, b, n)


def test_goal_time_and_length_rewards():
    goal = np.array([1.0, 0.0])
    near, far = path([0, 0], [1, 0]), path([0, 0], [-1, 0])
    g = GoalReward(goal, radius=0.5)
    assert g(near) == pytest.approx(10 / 20) and g(far) == 0.0
    t = TimeToGoalReward(goal)
    assert t(near) == pytest.approx(-10 / 20) and t(far) == -1.0
    assert PathLengthReward()(near) == pytest.approx(-1.0)
    for r in (g, t, PathLengthReward()):
        x = torch.tensor(np.stack([near, far]), dtype=torch.float32)
        out = r.torch_reward(x)
        assert out.shape == (2,)
    x = torch.tensor(np.stack([near, far]), dtype=torch.float32)
    assert g.torch_reward(x)[0] > g.torch_reward(x)[1] and t.torch_reward(x)[0] > t.torch_reward(x)[1]
    with pytest.raises(ValueError, match=r"\[T, D\]"):
        g(np.zeros(3))


def test_coin_reward_counts_uncollected_coins_and_pulls_towards_them():
    coins = np.array([[1.0, 0.0], [0.0, 1.0]])
    r = CoinReward(coins)
    via = np.concatenate([path([0, 0], [1, 0]), path([1, 0], [0, 1])])
    assert r(via) == 2.0 and r(path([0, 0], [-1, 0])) == 0.0
    assert CoinReward(coins, collected=[1, 0])(via) == 1.0
    x = torch.zeros(1, 5, 2, requires_grad=True)
    r.torch_reward(x).sum().backward()
    assert (x.grad[0].sum(0) > 0).all()  # gradient points towards both coins
    assert CoinReward(coins, collected=[1, 1]).torch_reward(x).item() == 0.0
    with pytest.raises(ValueError, match="one entry per coin"):
        CoinReward(coins, collected=[1])


def test_free_cell_reward_penalizes_walls_in_a_real_maze():
    env = gym.make("adiff/PointMaze-UMaze-v0")
    maze = env.unwrapped.maze
    r = FreeCellReward(maze)
    a, b = maze.cell_rowcol_to_xy(np.array([1, 1])), maze.cell_rowcol_to_xy(np.array([3, 1]))  # the U's arms, wall between
    through = path(a, b)
    around = path(a, maze.cell_rowcol_to_xy(np.array([1, 3])))  # along the free top corridor
    assert r(through) < 0 and r(around) == 0.0
    x = torch.tensor(np.stack([through, around]), dtype=torch.float32)
    out = r.torch_reward(x)
    assert out[0] < -1.0 and out[1] == 0.0


def test_composite_registry_and_guide():
    goal = [1.0, 0.0]
    comp = Composite([(1.0, GoalReward(goal)), (0.5, PathLengthReward())])
    p = path([0, 0], [1, 0])
    assert comp(p) == pytest.approx(GoalReward(goal)(p) - 0.5)
    assert has_torch(comp)
    with pytest.raises(ValueError):
        Composite([])

    class Plain:
        def __call__(self, trajectory):
            return 0.0

    mixed = Composite([(1.0, Plain()), (1.0, PathLengthReward())])
    assert not has_torch(mixed)
    with pytest.raises(TypeError, match="differentiable"):
        mixed.torch_reward(torch.zeros(1, 3, 2))
    with pytest.raises(TypeError):
        planner_guide(mixed, None, 2)

    env = gym.make("adiff/PointMaze-Medium-GoldCoin-v0")
    env.reset(seed=0)
    with pytest.raises(UnknownNameError, match="goal"):
        make_reward("goals", env)
    tr = task_reward(env, {"goal": 1.0, "coins": 2.0, "free-cells": 1.0, "path-length": 0.0})
    assert [w for w, _ in tr.terms] == [1.0, 2.0, 1.0]
    plain = task_reward(gym.make("adiff/PointMaze-UMaze-v0"), {"goal": 1.0, "coins": 1.0})
    assert len(plain.terms) == 1  # no coins in that maze
    coins = env.unwrapped.coin_positions
    through_both = np.concatenate([coins[:1].repeat(3, 0), coins[1:].repeat(3, 0)], axis=0)
    through_both = np.concatenate([through_both, np.zeros_like(through_both)], axis=1)  # [T, 4] states
    only_coins = {"coins": 1.0}
    assert task_reward(env, only_coins)(through_both) == pytest.approx(2.0)
    assert task_reward(env, only_coins, collected=[1, 0])(through_both) == pytest.approx(1.0)  # a taken coin pays nothing

    from adiff_env.datasets.normalizers import MinMaxNormalizer

    norm = MinMaxNormalizer(low=np.full(6, -2.0), high=np.full(6, 2.0))
    guide = planner_guide(GoalReward(goal), norm, action_dim=2)
    x = torch.zeros(3, 4, 6)
    assert guide(x, torch.zeros(3, dtype=torch.long)).shape == (3,)


def test_bradley_terry_fit_orders_pairs_on_a_toy():
    rng = np.random.default_rng(0)
    goal = np.array([2.0, 2.0])

    def traj():
        end = rng.uniform(-2, 3, size=2)
        return path([0, 0], end, n=int(rng.integers(10, 30)))

    def true(t):
        return -np.linalg.norm(t[-1] - goal)

    def pairs(n):
        out = []
        for _ in range(n):
            a, b = traj(), traj()
            out.append((a, b) if true(a) > true(b) else (b, a))
        return out

    model = PreferenceReward(points=8, hidden=32, seed=0)
    losses = model.fit(pairs(200), epochs=300, lr=1e-2)
    assert losses[-1] < 0.5 * losses[0]
    test = pairs(200)
    accuracy = np.mean([model(a) > model(b) for a, b in test])
    assert accuracy > 0.85
    x = torch.tensor(np.stack([path([0, 0], [2, 2], 16), path([0, 0], [-2, -2], 16)]), dtype=torch.float32)
    assert model.torch_reward(x).shape == (2,) and model(x)[0] > model(x)[1]
    assert resample_positions(x, 4).shape == (2, 4, 2)
    with pytest.raises(ValueError):
        model.fit([])


def test_lookup_by_name_uses_the_domain_table_and_names_the_valid_options():
    table = {"const": lambda env, value=1.0: (lambda trajectory: value)}
    assert build_reward(reward_factories(table), "const", None, value=2.5)(np.zeros((3, 2))) == 2.5
    with pytest.raises(UnknownNameError, match="const"):
        build_reward(reward_factories(table), "goal", None)  # the generic lookup knows no maze reward
    assert REWARD_NAMES == ("coins", "free-cells", "goal", "hurry", "path-length", "time-to-goal")
