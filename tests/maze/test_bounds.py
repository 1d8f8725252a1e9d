"""The return upper bound of a PointMaze episode: geodesic, speed profile, and real agents under it."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.evaluation import run_episodes
from adiff_env.maze.bounds import geodesic_distance, in_free_space, max_step_displacement, return_upper_bound
from adiff_env.maze.expert import make_expert


@pytest.fixture
def umaze():
    env = gym.make("adiff/PointMaze-UMaze-v0")
    yield env
    env.close()


def _xy(env, cell):
    return env.unwrapped._cell_xy(cell)


def test_geodesic_goes_round_the_wall_corners(umaze):
    # U-Maze free cells: row 1 cols 1-3, (2,3), row 3 cols 1-3; wall block at (2,1)-(2,2).
    # From (3,1) to (1,1): to the corner (2.5-ish) at the wall's end, along it, and back: 1 + 2*sqrt(2.5).
    assert geodesic_distance(umaze, _xy(umaze, (3, 1)), _xy(umaze, (1, 1))) == pytest.approx(1 + 2 * math.sqrt(2.5))
    # in sight: the straight line
    a, b = _xy(umaze, (1, 1)), _xy(umaze, (1, 3))
    assert geodesic_distance(umaze, a, b) == pytest.approx(2.0)
    # symmetric, and never shorter than the straight line
    c = _xy(umaze, (3, 2)) + np.array([0.2, -0.3])
    assert geodesic_distance(umaze, c, a) == pytest.approx(geodesic_distance(umaze, a, c))
    # by hand: the wall block spans x in [-1.5, 0.5], y in [-0.5, 0.5]; round its open end's two corners
    corners = [np.array([0.5, -0.5]), np.array([0.5, 0.5])]
    by_hand = np.linalg.norm(corners[0] - c) + 1.0 + np.linalg.norm(a - corners[1])
    assert geodesic_distance(umaze, c, a) == pytest.approx(by_hand)
    assert by_hand > np.linalg.norm(c - a) + 0.5


def test_free_space_and_bad_points(umaze):
    wall_centre = _xy(umaze, (2, 1))
    assert not in_free_space(umaze, wall_centre)[0]
    assert in_free_space(umaze, _xy(umaze, (1, 1)) + np.array([0.5, 0.5]))[0]  # a border point of a free cell
    with pytest.raises(ValueError, match=r"a=\[.*\] is not an \(x, y\) point"):
        geodesic_distance(umaze, wall_centre, _xy(umaze, (1, 1)))
    with pytest.raises(ValueError, match="b="):
        geodesic_distance(umaze, _xy(umaze, (1, 1)), [0.0, 0.0, 0.0])


def test_full_throttle_profile_rises_then_settles(umaze):
    disp = max_step_displacement(umaze, np.zeros(2), 300)
    assert disp.shape == (300, 2)
    assert np.all(np.diff(disp[:, 0]) >= -1e-12)  # never slower than the step before
    assert disp[0, 0] < 0.01 < disp[-1, 0]
    # the speed clip: about 5.2 maze units per second at 0.01 s per step
    assert disp[-1, 0] == pytest.approx(0.0523, abs=0.001)
    # a head start only helps
    fast = max_step_displacement(umaze, np.array([2.0, -2.0]), 20)
    assert np.all(fast >= disp[:20] - 1e-12) and fast[0, 0] > 2 * disp[0, 0]


def test_bound_is_the_step_limit_inside_the_goal_and_less_elsewhere(umaze):
    obs, _ = umaze.reset(seed=0, options={"reset_cell": (1, 1)})
    assert return_upper_bound(umaze, obs) == (300.0, 0)
    obs, _ = umaze.reset(seed=0, options={"reset_cell": (3, 1)})
    bound, steps = return_upper_bound(umaze, obs)
    # at least the geodesic minus the goal radius at the clipped speed (diagonal at most)
    assert steps >= (1 + 2 * math.sqrt(2.5) - 0.5) / (0.0523 * math.sqrt(2)) - 1
    assert bound == 300 - steps + 1


@pytest.mark.parametrize("env_id, episodes", [("adiff/PointMaze-UMaze-v0", 8), ("adiff/PointMaze-Medium-v0", 4)])
def test_real_agents_never_beat_the_bound(env_id, episodes):
    env = gym.make(env_id)
    try:
        bounds = []
        for i in range(episodes):
            obs, _ = env.reset(seed=i)
            bounds.append(return_upper_bound(env, obs)[0])
        returns, _, _ = run_episodes(env, make_expert(env, tuned=True), episodes, seed=0)
        assert np.all(np.asarray(returns) <= np.asarray(bounds))
        # and the bound is not vacuous: the tuned expert comes within 15% of it
        assert np.mean(returns) >= 0.85 * np.mean(bounds)
    finally:
        env.close()


def test_one_open_room_serves_many_bounds_and_closes(umaze, monkeypatch):
    from adiff_env.maze.bounds import OpenRoom

    closed = []
    real_close = OpenRoom.close
    monkeypatch.setattr(OpenRoom, "close", lambda self: (closed.append(self.env_id), real_close(self)))
    obs, _ = umaze.reset(seed=3)
    alone = return_upper_bound(umaze, obs)  # builds and closes its own room
    assert closed == ["adiff/PointMaze-UMaze-v0"]
    with OpenRoom(umaze) as room:
        shared = [return_upper_bound(umaze, obs, room) for _ in range(2)]
        assert len(closed) == 1  # still open while in use
    assert shared == [alone, alone] and len(closed) == 2
    with pytest.raises(ValueError, match="room was built for"):
        max_step_displacement(gym.make("adiff/PointMaze-Medium-v0"), np.zeros(2), 5, room)
