"""``act.rank = "arrival"``: candidates ranked by the largest one-step move of the block."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.datasets.normalizers import fit_normalizer
from adiff_env.diffusion import build_model, make_schedule
from adiff_env.errors import UnknownNameError
from adiff_env.planners.preset import ActConfig
from adiff_env.planners.ranking import arrival_rank, candidate_rank
from adiff_env.planners.trajectory import TrajectoryPlanner

A, OBS, H = 4, 25, 16


@pytest.fixture(scope="module")
def push():
    env = gym.make("adiff/FetchPush-v0")
    yield env
    env.close()


def _planner(push, **act):
    rows = np.random.default_rng(0).normal(size=(64, A + OBS))
    model = build_model({"arch": "temporal_unet", "config": {"transition_dim": A + OBS, "horizon": H, "dim": 8,
                                                               "dim_mults": [1, 2]}})
    return TrajectoryPlanner(model, make_schedule("cosine", 4).to_dict(), "x0", fit_normalizer("gaussian", rows), H, A, OBS,
                             ActConfig(action="plan", sampler_steps=2, deadline="horizon",
                                       replan_every=1, **act), task=push.unwrapped.planning_task())


def _plan(start: np.ndarray, goal: np.ndarray, reach: float, j: int = 10) -> np.ndarray:
    """A raw plan [H, A + OBS] whose block moves evenly from ``start`` a share ``reach`` of the way
    to ``goal`` by row j - 1 and sits on the goal from row j on (the pinned rows)."""
    raw = np.zeros((H, A + OBS))
    for r in range(H):
        raw[r, A + 3 : A + 6] = goal if r >= j else start + (goal - start) * reach * r / (j - 1)
    return raw


def test_arrival_prefers_the_candidate_whose_block_reaches_the_goal(push):
    planner = _planner(push, rank="arrival", n_samples=3)
    start, goal = np.array([1.3, 0.75, 0.42]), np.array([1.45, 0.75, 0.42])
    raws = [_plan(start, goal, 0.5), _plan(start, goal, 1.0), _plan(start, goal, 0.8)]  # 7.5 cm, 0, 3 cm jumps
    x = torch.as_tensor(np.stack([planner.normalizer.normalize(r) for r in raws]), dtype=torch.float32)
    reward = arrival_rank(planner)(x)
    assert reward.shape == (3,) and int(reward.argmax()) == 1 and int(reward.argmin()) == 0
    assert candidate_rank(planner, goal[None]) is not planner._rank_reward  # the rule dispatches to it


def test_arrival_ranked_acting_runs_single_and_batched(push):
    obs, _ = push.reset(seed=3)
    planner = _planner(push, rank="arrival", n_samples=2)
    action, _ = planner.predict(obs, episode_start=True)
    assert action.shape == (4,) and np.all(np.isfinite(action))
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    actions, _ = planner.predict(batch, episode_start=np.array([True, True]))
    assert actions.shape == (2, 4) and np.all(np.isfinite(actions))


def test_unknown_rank_lists_arrival():
    with pytest.raises(UnknownNameError, match="arrival"):
        ActConfig(rank="arrivals")
