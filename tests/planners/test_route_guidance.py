"""Rewards that ask something of the route (coins, ``waypoint[...]``, ``avoid[...]``): the spec
terms with cell arguments and their errors, the maze's tour order and its zone-avoiding route,
the planner's per-episode memory of passed points, and (slow) a guided episode on
Medium-GoldCoin that takes both coins and reaches the goal."""

from __future__ import annotations

import types

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.errors import ConfigError
from adiff_env.maze.geometry import MazeGeometry
from adiff_env.maze.layout import MazeLayout
from adiff_env.maze.task import APPROACH, MazePlanningTask, tour_order
from adiff_env.maze.zones import AvoidCellsReward, WaypointReward
from adiff_env.planners.reward_spec import PlanReward, RewardTerm, check_reward_spec, parse_reward_spec
from adiff_env.planners.route import refresh_reward
from adiff_env.planners.task import RouteHints, route_hints

GOLD = "adiff/PointMaze-Medium-GoldCoin-v0"


def geometry_of(text: str) -> MazeGeometry:
    grid = tuple(tuple(1 if ch == "#" else 0 for ch in row) for row in text.strip().splitlines())
    free = tuple((r, c) for r, row in enumerate(grid) for c, v in enumerate(row) if v != 1)
    layout = MazeLayout(maze_map=grid, free=free, goal_cells=(), reset_cells=())
    return MazeGeometry(layout, 1.0, len(grid[0]) / 2, len(grid) / 2)


CORRIDOR = geometry_of("""
#########
#.......#
#########
""")
LOOP = geometry_of("""
#######
#.....#
#.#.#.#
#.....#
#######
""")


@pytest.fixture(scope="module")
def gold_env():
    env = gym.make(GOLD)
    env.reset(seed=0)
    yield env
    env.close()


# ------------------------------------------------------------------ grammar
@pytest.mark.parametrize("text, terms", [
    ("avoid[3,3]", (RewardTerm("avoid", 1.0, "3,3"),)),
    ("avoid[3,2;3,3]:2+task", (RewardTerm("avoid", 2.0, "3,2;3,3"), RewardTerm("task", 1.0))),
    ("task+waypoint[1,1]:-0.5", (RewardTerm("task", 1.0), RewardTerm("waypoint", -0.5, "1,1"))),
])
def test_spec_terms_with_cell_arguments(text, terms):
    assert parse_reward_spec(text) == terms


@pytest.mark.parametrize("text, named", [
    ("avoid[3,3", "'avoid\\[3,3'"),
    ("avoid[]", "empty brackets"),
    ("avoid3,3]", "']' without '\\['"),
    ("avoid[3,3]x", "one bracketed argument"),
    ("avoid[3,3]:x", "'x'"),
])
def test_bad_bracket_syntax_is_a_config_error_naming_it(text, named):
    with pytest.raises(ConfigError, match=named):
        parse_reward_spec(text)


@pytest.mark.parametrize("text, named", [
    ("avoid[9,9]", "cell \\(9, 9\\) is outside the 8x8 maze"),
    ("avoid[0,0]", "cell \\(0, 0\\) is a wall"),
    ("avoid[a,b]", "'a,b' is not a cell"),
    ("avoid[3,3;3,3]", "given twice"),
    ("waypoint[1]", "'1' is not a cell"),
    ("avoid", "needs cells in brackets"),
    ("coins[1,6]", "'coins' takes no argument"),
    ("task[1,1]", "'task' takes no argument"),
])
def test_bad_cell_values_fail_at_the_check_naming_the_value(gold_env, text, named):
    with pytest.raises(ConfigError, match=named):
        check_reward_spec(text, gold_env)


def test_check_accepts_good_cells(gold_env):
    assert [t.name for t in check_reward_spec("task+avoid[3,3]+waypoint[1,1]:0.5", gold_env)] == \
        ["task", "avoid", "waypoint"]


# ------------------------------------------------------------------ the rewards
def test_avoid_reward_counts_zone_steps_and_its_gradient_pushes_out():
    reward = AvoidCellsReward(LOOP, ((1, 3),))
    centre = LOOP.cell_center((1, 3))
    inside = np.array([[*centre, 0, 0], [*(centre + [0.2, 0.1]), 0, 0], [*LOOP.cell_center((1, 1)), 0, 0]])
    assert reward(inside) == pytest.approx(-2 / 3)
    x = torch.tensor(inside[None] + [0.1, 0, 0, 0], requires_grad=True)  # just right of the centre
    reward.torch_reward(x).sum().backward()
    assert float(x.grad[0, 0, 0]) > 0  # the reward rises moving further right, out of the cell
    assert reward.route_hints().avoid == (tuple(np.r_[centre - 0.5, centre + 0.5]),)  # the cell's box


def test_waypoint_reward_pays_until_passed_then_nothing():
    points = np.array([LOOP.cell_center((3, 1))])
    reward = WaypointReward(points)
    through = np.array([[*points[0], 0, 0]])
    assert reward(through) == 1.0 and reward.route_hints().via == (tuple(points[0]),)
    done = reward.without(points)
    assert done(through) == 0.0 and not done.route_hints()
    x = torch.tensor(through[None], requires_grad=True)
    done.torch_reward(x).sum().backward()  # nothing left: zero, and still differentiable
    assert float(x.grad.abs().sum()) == 0.0


# ------------------------------------------------------------------ routes
def test_tour_takes_the_near_end_first():
    # start (1,4), goal (1,6): coin (1,1) first then (1,7) walks 3+6+1 = 10 cells; the other order 14
    assert tour_order(CORRIDOR, (1, 4), [(1, 7), (1, 1)], (1, 6), n_any=2) == [1, 0]


def test_waypoints_keep_their_order_and_coins_fit_around_them():
    cells = [(1, 2), (1, 7), (1, 1)]  # coin (1,2) in any order; waypoints (1,7) then (1,1)
    order = tour_order(CORRIDOR, (1, 4), cells, (1, 6), n_any=1)
    assert [i for i in order if i >= 1] == [1, 2]
    assert order == [1, 0, 2]  # the coin on the way back from (1,7) to (1,1)


def test_route_passes_the_points_in_tour_order_then_reaches_the_goal():
    task = MazePlanningTask(CORRIDOR)
    start, goal = np.r_[CORRIDOR.cell_center((1, 4)), 0, 0], CORRIDOR.cell_center((1, 6))
    hints = RouteHints(visit=(tuple(CORRIDOR.cell_center((1, 7))), tuple(CORRIDOR.cell_center((1, 1)))))
    stops, path, marks = task.route(start, goal, hints)
    assert [CORRIDOR.cell_of(p) for p in stops] == [(1, 1), (1, 7), (1, 6)]
    assert [path[m] for m in marks] == [(1, 1), (1, 7), (1, 6)]
    assert all(abs(a[1] - b[1]) == 1 for a, b in zip(path[:-1], path[1:]))  # one cell per move
    assert np.allclose(task.routed_subgoal(start, goal, 2, hints), CORRIDOR.cell_center((1, 2)))
    near = np.r_[CORRIDOR.cell_center((1, 2)), 0, 0]  # the first coin within 2 cells: plan onto its disc
    short = CORRIDOR.cell_center((1, 1)) + [APPROACH, 0.0]  # APPROACH short of it, on the side the route comes from
    assert np.allclose(task.routed_subgoal(near, goal, 2, hints), short)
    assert np.allclose(task.routed_subgoal(start, goal, 0, hints), short)
    inside = np.r_[CORRIDOR.cell_center((1, 1)) + [0.45, 0.0], 0, 0]  # already in the coin's cell: its centre
    assert np.allclose(task.routed_subgoal(inside, goal, 2, hints), CORRIDOR.cell_center((1, 1)))
    last = RouteHints()  # the goal itself is planned onto, not short of it
    assert np.allclose(task.routed_subgoal(near, CORRIDOR.cell_center((1, 1)), 2, last), CORRIDOR.cell_center((1, 1)))
    assert 0 < APPROACH < task.goal_tolerance  # inside the disc that counts as passing the point


def test_avoid_route_never_enters_the_zone_when_another_way_exists():
    task = MazePlanningTask(LOOP)
    zone = AvoidCellsReward(LOOP, ((1, 3),)).route_hints()
    start, goal = np.r_[LOOP.cell_center((1, 1)), 0, 0], LOOP.cell_center((1, 5))
    assert (1, 3) in LOOP.path_cells((1, 1), (1, 5))  # the shortest way crosses the zone
    _, path, _ = task.route(start, goal, zone)
    assert (1, 3) not in path and path[0] == (1, 1) and path[-1] == (1, 5)
    # no other way in a corridor: the route crosses the zone rather than failing
    corridor = MazePlanningTask(CORRIDOR)
    hint = AvoidCellsReward(CORRIDOR, ((1, 4),)).route_hints()
    _, path, _ = corridor.route(np.r_[CORRIDOR.cell_center((1, 1)), 0, 0], CORRIDOR.cell_center((1, 7)), hint)
    assert path == [(1, c) for c in range(1, 8)]


def test_avoid_route_on_medium_from_every_start(gold_env):
    g = gold_env.unwrapped.geometry
    task = gold_env.unwrapped.planning_task()
    zone = PlanReward("avoid[3,3]", gold_env)().route_hints()
    goal = gold_env.unwrapped.goal
    crossed = 0
    for cell in g.layout.free:
        if cell == (3, 3):
            continue
        _, path, _ = task.route(np.r_[g.cell_center(cell), 0, 0], goal, zone)
        crossed += (3, 3) in path
    assert crossed == 0
    assert sum((3, 3) in g.path_cells(c, g.cell_of(goal)) for c in g.layout.free) > 3  # the data's route does cross


# ------------------------------------------------------------------ replans
def test_a_replan_after_a_coin_is_taken_no_longer_routes_to_it():
    env = gym.make(GOLD)
    env.reset(seed=0)
    u = env.unwrapped
    source = PlanReward("task", env)
    assert len(route_hints(source()).visit) == 2
    u.coins_collected[0] = 1
    hints = route_hints(source())
    assert hints.visit == (tuple(u.coin_positions[1]),)
    stops, _, _ = u.planning_task().route(np.r_[u.geometry.cell_center((3, 3)), 0, 0], u.goal, hints)
    assert not any(np.allclose(p, u.coin_positions[0]) for p in stops)
    env.close()


def test_the_planner_remembers_passed_waypoints_and_drops_them(gold_env):
    g = gold_env.unwrapped.geometry
    task = gold_env.unwrapped.planning_task()
    due = {"now": True}
    planner = types.SimpleNamespace(task=task, reward_source=PlanReward("waypoint[1,1]+avoid[3,3]", gold_env),
                                    _replan_due=lambda st: due["now"])
    from adiff_env.planners.trajectory import PlanState

    st = PlanState()
    away = np.r_[g.cell_center((6, 1)), 0, 0]
    refresh_reward(planner, st, away)
    assert st.hints.via == (tuple(g.cell_center((1, 1))),) and st.hints.avoid and not st.reached
    due["now"] = False
    refresh_reward(planner, st, np.r_[g.cell_center((1, 1)) + 0.2, 0, 0])  # passes the waypoint between replans
    assert len(st.reached) == 1 and st.hints.via  # remembered; the hints change at the next replan
    due["now"] = True
    refresh_reward(planner, st, away)
    assert st.hints.via == () and st.hints.avoid  # dropped from the route, the zone stays
    assert st.reward(np.array([[*g.cell_center((1, 1)), 0, 0]])) == 0.0  # and no longer paid for


# ------------------------------------------------------------------ closed loop
@pytest.mark.slow
def test_a_guided_episode_takes_both_coins_and_reaches_the_goal():
    from adiff_env.agents import make_agent
    from adiff_env.evaluation import run_episodes

    env = gym.make(GOLD)
    agent = make_agent("planner:pointmaze-medium-evo?reward=task&guidance=x0&guide_scale=0.03", env)
    coins: list[float] = []
    _, successes, _ = run_episodes(env, agent, 1, 60000, coins=coins)
    assert successes == [True] and coins == [2.0]
    env.close()


def test_many_points_fall_back_to_nearest_first_keeping_waypoint_order():
    long = geometry_of("#" * 14 + "\n#" + "." * 12 + "#\n" + "#" * 14)
    coins = [(1, c) for c in (12, 2, 9, 4, 11, 6, 3, 8)]  # 8 coins: more than MAX_EXACT_TOUR
    cells = coins + [(1, 10), (1, 1)]  # then waypoints (1, 10) before (1, 1)
    order = tour_order(long, (1, 7), cells, (1, 12), n_any=8)
    walked = [cells[i][1] for i in order]
    # nearest first from (1, 7) (ties by list order); (1, 1) only once (1, 10) is passed
    assert walked == [6, 4, 3, 2, 8, 9, 10, 11, 12, 1]
