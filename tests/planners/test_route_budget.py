"""The route's time budget (``act.route_pace``: points to visit that no longer fit in the steps
left are left out) and ``act.replan_on_reach`` (a replan at the step a route point is passed)."""

from __future__ import annotations

import types

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.errors import ConfigError
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import MazeLayout
from adiff_env.maze.task import MazePlanningTask
from adiff_env.planners.preset import ActConfig
from adiff_env.planners.route import fit_route, refresh_reward, time_limit
from adiff_env.planners.task import GoalTask, RouteHints

LARGE = "adiff/PointMaze-Large-GoldCoin-v0"


def corridor(n: int) -> MazeGeometry:
    text = "#" * (n + 2) + "\n#" + "." * n + "#\n" + "#" * (n + 2)
    grid = tuple(tuple(1 if ch == "#" else 0 for ch in row) for row in text.splitlines())
    free = tuple((r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if v != 1)
    return MazeGeometry(MazeLayout(maze_map=grid, free=free, goal_cells=(), reset_cells=()), 1.0, len(grid[0]) / 2, 1.5)


G = corridor(10)  # cells (1, 1) .. (1, 10)
TASK = MazePlanningTask(G)


def at(cell):
    return np.r_[G.cell_center(cell), 0.0, 0.0]


def test_route_length_counts_the_cells_walked_through_the_points():
    hints = RouteHints(visit=(tuple(G.cell_center((1, 1))),))
    assert TASK.route_length(at((1, 5)), G.cell_center((1, 8)), RouteHints()) == 3.0
    assert TASK.route_length(at((1, 5)), G.cell_center((1, 8)), hints) == 4.0 + 7.0


def test_fit_route_drops_the_point_that_saves_most_and_keeps_what_fits():
    near, far = tuple(G.cell_center((1, 4))), tuple(G.cell_center((1, 1)))
    hints = RouteHints(visit=(far, near), via=(tuple(G.cell_center((1, 9))),))
    s, goal = at((1, 6)), G.cell_center((1, 10))
    assert TASK.route_length(s, goal, hints) == 5 + 9  # (1, 6) -> (1, 1) -> (1, 10), passing (1, 4) and (1, 9)
    kept, dropped = fit_route(TASK, s, goal, hints, budget=20.0)
    assert kept == hints and dropped == []
    kept, dropped = fit_route(TASK, s, goal, hints, budget=9.0)  # without (1, 1): 2 + 6 = 8 cells
    assert kept.visit == (near,) and kept.via == hints.via and len(dropped) == 1 and np.allclose(dropped[0], far)
    kept, dropped = fit_route(TASK, s, goal, hints, budget=1.0)  # nothing fits: every visit point goes, the via stays
    assert kept.visit == () and kept.via == hints.via and len(dropped) == 2
    assert fit_route(GoalTask(goal_dims=(0, 1)), s, goal, hints, budget=0.0) == (hints, [])  # no route_length


def test_time_limit_of_the_env():
    env = gym.make(LARGE)
    assert time_limit(env) == 800
    assert time_limit(None) is None and time_limit(types.SimpleNamespace(spec=None)) is None
    env.close()


@pytest.mark.parametrize("pace", [-1.0, float("inf"), float("nan")])
def test_bad_route_pace_is_a_config_error(pace):
    with pytest.raises(ConfigError, match="route_pace"):
        ActConfig(route_pace=pace)


def _fake_planner(env, **act):
    due = {"now": True}
    from adiff_env.planners.reward_spec import PlanReward

    planner = types.SimpleNamespace(task=env.unwrapped.planning_task(), reward_source=PlanReward("task", env),
                                    _replan_due=lambda st: due["now"], act=ActConfig(reward="task", **act), env=env)
    return planner, due


def test_a_tight_budget_leaves_coins_out_for_the_rest_of_the_episode():
    from adiff_env.planners.trajectory import PlanState

    env = gym.make(LARGE)
    obs, _ = env.reset(seed=40003)  # a 47-cell tour through the three coins
    u = env.unwrapped
    s = obs["observation"].astype(np.float64)
    planner, due = _fake_planner(env, route_pace=20.0)  # 800 / 20 = 40 cells at the start
    st = PlanState()
    refresh_reward(planner, st, s, goal=u.goal)
    assert len(st.skipped) >= 1 and len(st.hints.visit) == 3 - len(st.skipped)
    assert u.planning_task().route_length(s, u.goal, st.hints) <= 40
    skipped = [tuple(p) for p in st.skipped]
    st.t = 10
    refresh_reward(planner, st, s, goal=u.goal)  # the next replan: a skipped coin does not come back
    assert all(tuple(p) not in skipped for p in st.hints.visit)
    plain, _ = _fake_planner(env)  # route_pace 0: every coin, however late
    st0 = PlanState()
    refresh_reward(plain, st0, s, goal=u.goal)
    assert len(st0.hints.visit) == 3 and st0.skipped == []
    env.close()


@pytest.mark.parametrize("on", [True, False])
def test_passing_a_point_asks_for_a_replan_at_once(on):
    from adiff_env.planners.trajectory import PlanState

    env = gym.make(LARGE)
    env.reset(seed=0)
    u = env.unwrapped
    planner, due = _fake_planner(env, replan_on_reach=on)
    st = PlanState()
    refresh_reward(planner, st, np.r_[u.coin_positions[0] + [0.6, 0.0], 0.0, 0.0])  # just outside the coin's disc
    assert not st.reached
    st.plan = np.zeros((4, 6))  # a plan in hand, no replan due
    due["now"] = False
    refresh_reward(planner, st, np.r_[u.coin_positions[0] + [0.3, 0.0], 0.0, 0.0])  # inside the coin's disc
    assert len(st.reached) == 1 and (st.plan is None) == on
    env.close()


def test_routed_generation_episodes_get_the_time_limit_not_the_goal_deadline():
    from adiff_env.maze.generate import REST_STEPS, drive_steps

    env = gym.make("adiff/PointMaze-Medium-GoldCoin-v0")
    plain = types.SimpleNamespace(reward_source=None, act=ActConfig())
    routed = types.SimpleNamespace(reward_source=object(), act=ActConfig(reward="task"))
    shortest = types.SimpleNamespace(reward_source=object(), act=ActConfig(reward="task", route="shortest"))
    assert drive_steps(plain, env, 60) == 2 * 60 + 2 * REST_STEPS
    assert drive_steps(shortest, env, 60) == 2 * 60 + 2 * REST_STEPS
    assert drive_steps(routed, env, 60) == 600  # Medium's time limit: room for the coin tour
    assert drive_steps(routed, env, 400) == 2 * 400 + 2 * REST_STEPS  # never shorter than before
    env.close()
