"""Arrival steps and the faster-than-a-reference test of generation (:mod:`adiff_env.maze.pace`)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.maze.pace import ReferencePace, arrival_step

ENV = "adiff/PointMaze-UMaze-v0"


def test_arrival_step_is_the_first_row_within_the_radius():
    goal = np.array([1.0, 0.0])
    path = np.array([[-1.0, 0.0], [0.0, 0.0], [0.6, 0.0], [1.0, 0.0], [2.0, 0.0]])
    assert arrival_step(path, goal) == 2  # 0.4 from the goal at row 2
    assert arrival_step(path, goal, radius=0.1) == 3
    assert arrival_step(path[:2], goal) is None
    with pytest.raises(ValueError, match=r"achieved must be \[T, 2\]"):
        arrival_step(np.zeros(3), goal)


def test_beats_keeps_ties_and_asks_for_the_margin():
    env = gym.make(ENV)
    try:
        pace = ReferencePace("expert-tuned", env)
        assert pace.beats(40, 40) and pace.beats(39, 40) and not pace.beats(41, 40)
        assert not pace.beats(None, 40) and not pace.beats(None, None)
        assert pace.beats(500, None)  # a reference that never arrives is beaten by any arrival
        strict = ReferencePace("expert-tuned", env, margin=2)
        assert strict.beats(38, 40) and not strict.beats(39, 40)
        with pytest.raises(ValueError, match="margin must be >= 0 steps, got -1"):
            ReferencePace("expert-tuned", env, margin=-1)
    finally:
        env.close()


def test_the_reference_plays_the_same_reset_and_the_tuned_expert_is_faster():
    env = gym.make(ENV)
    try:
        options = {"reset_cell": (3, 1), "goal_cell": (1, 1)}  # around the U: two turns
        tuned = ReferencePace("expert-tuned", env).arrival(seed=7, options=options)
        again = ReferencePace("expert-tuned", env).arrival(seed=7, options=options)
        d4rl = ReferencePace("expert", env).arrival(seed=7, options=options)
        assert tuned is not None and d4rl is not None and tuned == again
        assert 10 < tuned < d4rl  # the tuned expert takes the turns short
        near = ReferencePace("expert-tuned", env).arrival(seed=7, options={"reset_cell": (1, 1), "goal_cell": (1, 1)})
        assert near == 0
    finally:
        env.close()
