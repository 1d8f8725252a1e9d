"""Fetch self-evolution: the curriculum's goals, the goal-region test, hindsight relabelling,
batched rollouts (the same episodes as the sequential protocol), the filter, the config's
checks, and one tiny evolve round end to end through the CLI (temp ADIFF_HOME and
MINARI_DATASETS_PATH from the conftest)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from adiff_env.evaluation import run_episodes
from adiff_env.evolve.domain import EvolveDomain
from adiff_env.manipulation.evolve import FetchEvolveConfig, FetchEvolveDomain, env_label
from adiff_env.manipulation.expert import make_fetch_expert
from adiff_env.manipulation.rollouts import (
    LiftExploration,
    Rollout,
    block_at_rest,
    block_path_features,
    curriculum_goal,
    goal_in_region,
    held_peak,
    keep_rollouts,
    path_distance,
    relabel,
    run_batch,
    table_height,
)

PNP = "adiff/FetchPickAndPlace-v0"


@pytest.fixture
def air_env():
    env = gym.make(PNP, goal_region="air")
    yield env
    env.close()


def test_curriculum_goal_compresses_the_height_into_the_cap():
    z = 0.42
    top = curriculum_goal(np.array([1.3, 0.7, z + 0.45]), z, 0.15)
    low = curriculum_goal(np.array([1.3, 0.7, z + 0.05]), z, 0.15)
    mid = curriculum_goal(np.array([1.3, 0.7, z + 0.25]), z, 0.15)
    assert top[2] == pytest.approx(z + 0.15) and low[2] == pytest.approx(z + 0.05) and mid[2] == pytest.approx(z + 0.10)
    assert np.allclose(top[:2], [1.3, 0.7])
    assert np.allclose(curriculum_goal(np.array([1.3, 0.7, z + 0.3]), z, 0.45), [1.3, 0.7, z + 0.3])
    with pytest.raises(ValueError, match="height cap"):
        curriculum_goal(np.array([1.3, 0.7, z + 0.3]), z, 0.05)


def test_goal_in_region(air_env):
    z = table_height(air_env)
    assert goal_in_region(air_env, np.array([1.3, 0.7, z + 0.2]))
    assert not goal_in_region(air_env, np.array([1.3, 0.7, z + 0.01]))
    assert not goal_in_region(air_env, np.array([1.3, 0.7, z + 0.6]))
    table = gym.make(PNP, goal_region="table")
    try:
        assert goal_in_region(table, np.array([1.3, 0.7, z])) and not goal_in_region(table, np.array([1.3, 0.7, z + 0.1]))
    finally:
        table.close()


def _rollout(achieved: np.ndarray, goal: np.ndarray, held: bool = True) -> Rollout:
    t = len(achieved) - 1
    obs = np.zeros((t + 1, 25))
    obs[:, 3:6] = achieved
    obs[:, 6:9] = 0.0 if held else 0.1  # block relative to the grip site
    item = {"obs/achieved_goal": achieved, "obs/desired_goal": np.tile(goal, (t + 1, 1)),
            "obs/observation": obs, "actions": np.zeros((t, 4), np.float32),
            "rewards": -np.ones(t)}
    return Rollout(item=item, success=False, ever=False, ret=-float(t), seed=0)


def test_relabel_makes_the_final_block_position_the_goal(air_env):
    z = table_height(air_env)
    path = np.stack([np.linspace(1.30, 1.30, 11), np.full(11, 0.7), np.linspace(z, z + 0.2, 11)], axis=1)
    path[-4:] = path[-4]  # lifted, then held
    r = _rollout(path, np.array([1.3, 0.7, z + 0.4]))
    out = relabel(r, air_env)
    assert out.relabelled and out.success and out.ever
    assert np.allclose(out.item["obs/desired_goal"], path[-1])
    # -1 while the block is more than 0.05 m from the final position, 0 from there on
    expected = -(np.linalg.norm(path[1:] - path[-1], axis=1) > 0.05).astype(float)
    assert np.array_equal(out.item["rewards"], expected) and out.ret == expected.sum()
    assert r.item["obs/desired_goal"][0, 2] == pytest.approx(z + 0.4)  # the original is untouched
    assert block_at_rest(r)


def test_keep_rollouts_keeps_successes_and_held_air_blocks_only(air_env):
    z = table_height(air_env)
    held = np.tile([1.3, 0.7, z + 0.15], (11, 1))
    on_table = np.tile([1.3, 0.7, z], (11, 1))
    falling = np.stack([np.full(11, 1.3), np.full(11, 0.7), np.linspace(z + 0.3, z + 0.1, 11)], axis=1)
    win = _rollout(on_table, np.array([1.3, 0.7, z + 0.2]))
    win.success = True
    rollouts = [win, _rollout(held, np.array([1.3, 0.7, z + 0.4])), _rollout(on_table, np.array([1.3, 0.7, z + 0.4])),
                _rollout(falling, np.array([1.3, 0.7, z + 0.4]))]
    kept, counts = keep_rollouts(rollouts, air_env)
    assert counts == {"succeeded": 1, "relabelled": 1, "dropped": 2}
    assert kept[0] is win and kept[1].relabelled
    kept, counts = keep_rollouts(rollouts, air_env, hindsight=False)
    assert counts == {"succeeded": 1, "relabelled": 0, "dropped": 3}
    # "peak": the highest held position in the region, even if the block came down again
    kept, counts = keep_rollouts(rollouts, air_env, goal="peak")
    assert counts == {"succeeded": 1, "relabelled": 2, "dropped": 1}
    assert kept[2].item["obs/desired_goal"][0, 2] == pytest.approx(z + 0.3)  # the falling block's top
    dropped = _rollout(falling, np.array([1.3, 0.7, z + 0.4]), held=False)  # not in the hand: no goal
    assert held_peak(dropped, air_env) is None
    with pytest.raises(Exception, match="hindsight goal"):
        keep_rollouts(rollouts, air_env, goal="middle")


class _Still:
    batch_predict = True

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.zeros((len(observation["observation"]), 4), np.float32), state


def test_lift_exploration_moves_only_lifted_blocks_and_only_early():
    z = 0.42
    obs = np.zeros((2, 25))
    obs[:, 5] = [z, z + 0.1]  # env 0: block on the table, env 1: lifted
    agent = LiftExploration(_Still(), std=0.5, steps=2, table_z=z, seed=0, bias_std=0.5)
    a0, _ = agent.predict({"observation": obs}, episode_start=np.array([True, True]))
    assert np.all(a0[0] == 0) and np.any(a0[1, :3] != 0) and a0[1, 3] == 0  # fingers untouched
    a1, _ = agent.predict({"observation": obs}, episode_start=np.array([False, False]))
    a2, _ = agent.predict({"observation": obs}, episode_start=np.array([False, False]))
    assert np.any(a1[1] != 0) and np.all(a2 == 0) and np.all(np.abs(a1) <= 1)  # steps t >= 2: the agent alone


def test_batched_rollouts_match_the_sequential_protocol():
    """The scripted expert is deterministic, so batched episodes must equal `run_episodes`'
    (same reset seeds, success at the last step), and pinned goals must be used."""
    make = lambda: gym.make(PNP, goal_region="air")  # noqa: E731
    env = make()
    try:
        expert = make_fetch_expert(env)
        _, successes, _ = run_episodes(env, expert, 3, seed=123)
        rollouts = run_batch(make, expert, [123, 124, 125], batch_size=2)
        assert [r.success for r in rollouts] == successes and [r.seed for r in rollouts] == [123, 124, 125]
        r = rollouts[0]
        assert r.item["actions"].shape == (50, 4) and r.item["obs/observation"].shape == (51, 25)
        assert r.item["rewards"].shape == (50,) and r.ret == pytest.approx(r.item["rewards"].sum())
        goal = np.array([1.3, 0.75, table_height(env) + 0.1])
        pinned = run_batch(make, expert, [7], goals=[goal])[0]
        assert np.allclose(pinned.item["obs/desired_goal"][0], goal) and pinned.success
    finally:
        env.close()
    feats = block_path_features(r.item)
    assert feats.shape == (16, 3) and path_distance(feats, feats) == 0.0


def test_config_checks_and_curriculum_rounds():
    cfg = FetchEvolveConfig(env_id=PNP, base="planner:x", env_kwargs={"goal_region": "air"}, height_caps=(0.15, 0.3))
    assert [cfg.cap(k) for k in (1, 2, 3)] == [0.15, 0.3, 0.3]
    assert FetchEvolveConfig(env_id=PNP, base="planner:x").cap(1) is None
    assert cfg.target == "adiff/FetchPickAndPlace-v0?goal_region=air" and env_label(PNP, None) == PNP
    assert isinstance(FetchEvolveDomain(cfg), EvolveDomain)
    for bad, match in (({"height_caps": (0.04,)}, "height_caps"), ({"mix_ratio": 1.5}, "mix_ratio"),
                       ({"samples": 0}, "samples"), ({"act": {"replan_evry": 2}}, "replan_evry"),
                       ({"min_improvement": -1}, "min_improvement"), ({"max_normalized": 0.0}, "max_normalized"),
                       ({"hindsight_goal": "middle"}, "hindsight goal"), ({"explore_bias": -0.1}, "explore")):
        with pytest.raises(ValueError, match=match):
            FetchEvolveConfig(env_id=PNP, base="planner:x", **bad)


@pytest.mark.slow
def test_tiny_fetch_evolve_round_through_the_cli(tmp_path, capsys):
    """A tiny planner on a tiny table-goal dataset, one evolve round on table goals (a block
    the tiny planner leaves lying is "at rest on the table", so hindsight keeps something and
    fine-tuning, evaluation and the register-only-if-better rule all run)."""
    from adiff_env.cli.main import main
    from adiff_env.datasets.collect import collect_dataset
    from adiff_env.registry import ModelRegistry, adiff_home

    collect_dataset(PNP, 150, noise_std=0.0, dataset_id="adiff/tiny-pnp-table-v0", episode_steps=50, continuing=False,
                    env_kwargs={"goal_region": "table"}, progress=False)
    preset = tmp_path / "tiny-pnp.toml"
    preset.write_text(
        f'name = "tiny-pnp"\nenv = "{PNP}"\ndataset = "adiff/tiny-pnp-table-v0"\n'
        '[data]\nhorizon = 16\ngoal_mode = "hindsight"\nmin_goal_index = 2\n'
        f'rest_keep_dims = {list(range(25))}\n'
        '[model]\narch = "temporal_unet"\ndim = 8\ndim_mults = [1, 2]\n[diffusion]\nn_timesteps = 8\nglobal_cond = true\n'
        '[train]\nsteps = 5\nbatch_size = 8\nwarmup_steps = 1\neval_every = 0\ncheckpoint_every = 5\n'
        'inverse_dynamics_hidden = 16\n'
        '[act]\nsampler_steps = 2\nreplan_every = 8\naction = "inverse-dynamics"\ndeadline = "horizon"\n')
    assert main(["--threads", "1", "planner", "train", PNP, "--preset", str(preset), "--quiet", "--no-collect"]) == 0
    capsys.readouterr()
    rc = main(["--threads", "1", "planner", "evolve", PNP, "--from", "planner:tiny-pnp", "--env-kwarg", 'goal_region="table"',
               "--keep-env-kwarg", 'goal_region="table"', "--rounds", "1", "--samples", "4", "--eval-episodes", "2",
               "--finetune-steps", "3", "--batch-size", "4", "--max-normalized", "0", "--quiet", "--json",
               "--goal-pull", "0.5", "--pull-grip", "--pull-relay", "0", "--consolidate-steps", "2"])
    assert rc == 0
    state = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert state["domain"] == "fetch" and state["config"]["env_kwargs"] == {"goal_region": "table"}
    assert state["baseline_eval"]["target_success_rate"] is not None and state["baseline_eval"]["episodes"] == 2
    (record,) = state["rounds"]
    assert record["generated"] == 4 and record["kept"] >= 1 and record["buffer"]["size"] >= 1
    assert record["extras"]["succeeded"] + record["extras"]["relabelled"] == record["kept"]
    assert record["loss"] is not None and record["score"] is not None
    registry = ModelRegistry()
    if record["improved"]:
        assert record["registered"] == "tiny-pnp@v2"
        assert registry.load("tiny-pnp@v2").metadata.parent == "tiny-pnp@v1"
    else:
        assert registry.versions("tiny-pnp") == [1] and state["current"] == "tiny-pnp@v1"
    assert (adiff_home() / "evolve" / "tiny-pnp" / "rounds" / "r1" / "buffer" / "buffer.json").is_file()
    assert record["extras"]["pull_grip"] is True and record["extras"]["pull_relay"] == 0.0
    consolidated = adiff_home() / "evolve" / "tiny-pnp" / "rounds" / "r1" / "candidate" / "models" / "tiny-pnp"
    assert sorted(p.name for p in consolidated.iterdir() if p.is_dir()) == ["v1", "v2"]  # mixed, then consolidated


def test_rounds_chain_from_the_newest_earlier_candidate(tmp_path):
    """With chain (default) round k starts from the newest candidate of rounds < k, registered
    or not; without, from the current version."""
    import torch

    from adiff_env.evolve.domain import RunContext
    from adiff_env.registry import CheckpointMetadata, ModelRegistry

    def save(home, tag):
        return ModelRegistry(home, read_only_roots=[]).save(
            "evo", CheckpointMetadata(kind="trajectory-planner", extra={"tag": tag}), tensors={"x": torch.zeros(1)}, config={})

    base = save(tmp_path / "home", "base")
    save(tmp_path / "work" / "rounds" / "r1" / "candidate", "r1")
    (tmp_path / "work" / "rounds" / "r2").mkdir()  # a round whose buffer stayed empty: no candidate
    run = RunContext(registry=ModelRegistry(tmp_path / "home", read_only_roots=[]), name="evo", base=base,
                     workdir=tmp_path / "work", progress=False)
    domain = FetchEvolveDomain(FetchEvolveConfig(env_id=PNP, base="planner:evo"))
    domain._run = run
    assert domain.start_point(base, 1).metadata.extra["tag"] == "base"
    assert domain.start_point(base, 3).metadata.extra["tag"] == "r1"
    domain = FetchEvolveDomain(FetchEvolveConfig(env_id=PNP, base="planner:evo", chain=False))
    domain._run = run
    assert domain.start_point(base, 3).metadata.extra["tag"] == "base"


def test_the_shipped_air_planner_resolves_from_an_empty_home():
    """planner:fetch-pick-place-air comes from planners/pretrained/ (the temp ADIFF_HOME is
    empty), records how it was made and its figures, and acts on an air goal."""
    from adiff_env.agents import make_agent
    from adiff_env.registry import ModelRegistry

    registry = ModelRegistry()
    for version in registry.versions("fetch-pick-place-air"):
        meta = registry.load(f"fetch-pick-place-air@v{version}", kind="trajectory-planner").metadata
        assert meta.name == "fetch-pick-place-air" and meta.version == version and not meta.extra["run_dir"].startswith("/")
        assert {"air", "table"} <= set(meta.scores["after"]) and meta.scores["after"]["air"]["seeds"] in (
            [70000, 70099], [71000, 71099], [76000, 76099])  # v1, v2: 70000+; v3 (s11-air): 71000+; v4 (s12-air2): 76000+
    assert registry.versions("fetch-pick-place-air")[:4] == [1, 2, 3, 4]
    latest = registry.load("fetch-pick-place-air", kind="trajectory-planner").metadata
    assert latest.version == 4 and latest.parent == "fetch-pick-place-air@v3"
    assert latest.scores["after"]["air"]["success_rate"] >= 0.8  # measured on fresh seeds 76000-76099
    assert latest.extra["extra_goal_above_exempt"] == "rehearsal"
    env = gym.make(PNP, goal_region="air")
    try:
        agent = make_agent("planner:fetch-pick-place-air", env)
        obs, _ = env.reset(seed=70000)
        action, _ = agent.predict(obs, episode_start=True)
        assert action.shape == (4,) and np.all(np.abs(action) <= 1)
    finally:
        env.close()


def test_the_shipped_table_only_base_resolves_from_an_empty_home():
    """planner:fetch-pick-place-table (the air protocol's start point, session 12) comes from
    planners/pretrained/: v2 is v1 + the workspace step, with its measured figures."""
    from adiff_env.registry import ModelRegistry

    registry = ModelRegistry()
    assert registry.versions("fetch-pick-place-table")[:2] == [1, 2]
    v1 = registry.load("fetch-pick-place-table@v1", kind="trajectory-planner").metadata
    latest = registry.load("fetch-pick-place-table", kind="trajectory-planner").metadata
    assert v1.parent is None and v1.dataset == "adiff/fetch-pickandplace-table-v0"
    assert latest.version == 2 and latest.parent == "fetch-pick-place-table@v1"
    assert latest.dataset == "adiff/fetch-pickandplace-table-v0" and not latest.extra["run_dir"].startswith("/")
    assert latest.scores["test"]["air"]["seeds"] == [75000, 75099]
    assert latest.scores["test"]["table"]["success_rate"] == pytest.approx(0.96)
    # the workspace step raised the gripper's and block's height bounds (rows: 4 action dims, then the state)
    # to the top of the goal region (table 0.42 m + 0.45 m + 0.03 m); v1's are fitted on table data
    assert latest.normalizer is not None and v1.normalizer is not None
    for d in (4 + 2, 4 + 5):
        assert v1.normalizer["high"][d] < 0.6 < latest.normalizer["high"][d] == pytest.approx(0.9049, abs=1e-3)
