"""Acting with ``compile="trace"`` (the denoiser's traced forward) makes the same plans and the
same actions as the eager forward, at batch 1 and batched, on a shipped one-step student and
its DDIM teacher."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the env ids)
from adiff_env.diffusion.inference import TracedDenoiser

ENV = "adiff/PointMaze-UMaze-v0"


@pytest.fixture(scope="module")
def registry():
    from adiff_env.registry import ModelRegistry

    return ModelRegistry()


@pytest.mark.parametrize("name,over", [("pointmaze-umaze-distilled", {}),
                                       ("pointmaze-umaze", {"sampler": "ddim", "sampler_steps": 2, "n_samples": 2})])
def test_traced_plans_equal_eager_plans(registry, name, over):
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make(ENV)
    eager = TrajectoryPlanner.from_checkpoint(registry.load(name), env, seed=5, **over)
    traced = TrajectoryPlanner.from_checkpoint(registry.load(name), env, seed=5, compile="trace", **over)
    assert isinstance(traced.denoiser, TracedDenoiser) and eager.denoiser is eager.model
    obs = [env.reset(seed=40_000 + k)[0] for k in range(3)]
    s = np.stack([o["observation"] for o in obs]).astype(np.float64)
    g = np.stack([o["desired_goal"] for o in obs]).astype(np.float64)
    one = [p.plan(s[0], g[0], 40) for p in (eager, traced)]
    batch = [p.plan_batch(s, g, [40, 60, 80]) for p in (eager, traced)]
    np.testing.assert_array_equal(one[0], one[1])
    np.testing.assert_array_equal(batch[0], batch[1])
    assert traced.denoiser.graphs == 2  # batch 1 and batch 3 x n_samples
    batched_obs = {k: np.stack([o[k] for o in obs]) for k in obs[0]}
    starts = np.ones(3, dtype=bool)
    np.testing.assert_array_equal(eager.predict(batched_obs, episode_start=starts)[0],
                                  traced.predict(batched_obs, episode_start=starts)[0])
    env.close()


@pytest.mark.parametrize("method", ["x0", "dps"])
def test_traced_guided_plans_equal_eager_guided_plans(registry, method):
    """Guidance: x0-space edits run the model without gradients (traced), DPS differentiates
    through it (the wrapper falls back to the model); both plan as the eager planner does."""
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make("adiff/PointMaze-Medium-GoldCoin-v0")
    act = {"reward": "task", "guidance": method, "guide_scale": 0.03, "sampler_steps": 2, "seed": 2}
    eager = TrajectoryPlanner.from_checkpoint(registry.load("pointmaze-medium-evo"), env, **act)
    traced = TrajectoryPlanner.from_checkpoint(registry.load("pointmaze-medium-evo"), env, compile="trace", **act)
    obs, _ = env.reset(seed=40_000)
    actions = [p.predict(obs, episode_start=np.array([True]))[0] for p in (eager, traced)]
    np.testing.assert_array_equal(actions[0], actions[1])
    np.testing.assert_array_equal(eager.state.plan, traced.state.plan)
    assert traced.denoiser.graphs == (1 if method == "x0" else 0)
    env.close()
