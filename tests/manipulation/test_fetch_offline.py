"""Offline baselines on Fetch goal dicts: a tiny CQL trained through the CLI on a real Fetch push
dataset (hindsight goals within Fetch's 0.05 m, 50-step offsets) acts in FetchPush and in
FetchPush-Avoid (whose observation adds ``forbidden_zone``), and the fetch suite's bare ``cql``
names it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.baselines.data import load_goal_transitions
from adiff_env.bench.suites import resolve_agent_text
from adiff_env.cli.main import main
from adiff_env.datasets.collect import collect_dataset
from adiff_env.registry import ModelRegistry

PUSH, AVOID = "adiff/FetchPush-v0", "adiff/FetchPush-Avoid-v0"


def test_cql_trains_on_fetch_goal_dicts_and_acts_on_push_and_avoid(capsys):
    collect_dataset(PUSH, 100, seed=0, dataset_id="test/fetch-push-cql-v0", episode_steps=50, continuing=False,
                    progress=False)
    data = load_goal_transitions("test/fetch-push-cql-v0")
    assert data.obs.shape[1] == 25 and data.goal.shape[1] == 3  # the observation vector and the block goal
    code = main(["--threads", "1", "baselines", "train", "cql", PUSH, "--dataset", "test/fetch-push-cql-v0",
                 "--steps", "5", "--name", "cql-fetch-push", "--set", "batch_size=16", "--set", "hidden=16",
                 "--set", "goal_radius=0.05", "--set", "max_goal_offset=50", "--quiet"])
    assert code == 0 and "saved cql-fetch-push@v1" in capsys.readouterr().out
    assert ModelRegistry().load("cql-fetch-push", kind="cql").metadata.steps == 5
    spec = resolve_agent_text("fetch", "cql", AVOID)
    assert spec == "cql:cql-fetch-push"
    for env_id in (PUSH, AVOID):
        env = gym.make(env_id)
        try:
            agent = make_agent(spec, env)
            obs, _ = env.reset(seed=0)
            action, _ = agent.predict(obs)
            assert action.shape == (4,) and np.all(np.abs(action) <= 1) and env.action_space.contains(action.astype(np.float32))
        finally:
            env.close()
