"""Distilling a (tiny, really trained) trajectory planner into a one-step consistency planner:
a new registry version with its parent, loadable as ``planner:NAME`` with no planner code change."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_planner import ENV, tiny_preset

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env import config
from adiff_env.agents import make_agent
from adiff_env.diffusion import DistillConfig, GuidanceConfig, Inpainting, RewardGuide, TeacherPool, sample
from adiff_env.diffusion.schedulers import ConsistencyScheduler
from adiff_env.errors import ConfigError, UnknownNameError
from adiff_env.planners.distill import distill_planner
from adiff_env.planners.distill_pool import (
    PoolConfig,
    acting_inputs,
    goal_indices,
    mixed_source,
    record_acting_conditions,
    shorten_pool,
)
from adiff_env.planners.train import train_planner
from adiff_env.registry import ModelRegistry


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    from adiff_env.datasets.collect import collect_dataset

    root = tmp_path_factory.mktemp("distill")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        mp.setenv("ADIFF_HOME", str(root / "home"))
        collect_dataset(ENV, 3000, seed=0, dataset_id="test/umaze-distill-v0", episode_steps=1000, progress=False)
        registry = ModelRegistry(root / "home")
        teacher = train_planner(tiny_preset("test/umaze-distill-v0"), run_dir=root / "run", progress=False,
                                registry=registry).checkpoint
        cfg = DistillConfig(teacher_steps=4, pool_size=64, teacher_batch=32, steps=30, batch_size=16, warmup_steps=5)
        out = distill_planner(teacher, name="tiny-distilled", config=cfg, registry=registry,
                              student_model={"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]}, progress=False)
        yield teacher, out, registry, mp


def test_distilled_version_records_parent_and_consistency_sampler(distilled):
    teacher, out, registry, _ = distilled
    ckpt = registry.load("tiny-distilled@v1", kind="trajectory-planner")
    assert ckpt.metadata.parent == teacher.spec and ckpt.metadata.version == 1
    assert ckpt.config["act"]["sampler"] == "consistency" and ckpt.config["act"]["sampler_steps"] == 1
    assert ckpt.config["prediction"] == "x0" and ckpt.config["distill"]["teacher"] == teacher.spec
    assert ckpt.config["model"]["config"]["dim"] == 8
    assert ckpt.config["dims"] == teacher.config["dims"] and ckpt.metadata.normalizer == teacher.metadata.normalizer
    assert any(k.startswith("inv.") for k in ckpt.tensors)  # the teacher's inverse dynamics travel along
    assert out.result.losses and np.isfinite(out.result.losses[-1])


def test_distilled_planner_acts_with_one_step_and_keeps_its_conditioning(distilled, monkeypatch):
    _, _, registry, _ = distilled
    monkeypatch.setenv("ADIFF_HOME", str(registry.home))
    env = gym.make(ENV)
    try:
        agent = make_agent("planner:tiny-distilled@v1", env)
        assert isinstance(agent.scheduler, ConsistencyScheduler) and agent.scheduler.timesteps.tolist() == [7]
        obs, _ = env.reset(seed=0)
        for _ in range(6):
            action, _ = agent.predict(obs)
            obs, *_ = env.step(action)
        assert agent.plans_made == 2 and np.all(np.abs(action) <= 1.0)
        s, goal = np.asarray(obs["observation"], np.float64), np.asarray(obs["desired_goal"], np.float64)
        out = agent.sample_plans(s, goal, 6, 3, guide=RewardGuide(lambda x: x[..., 2].sum(-1)),
                                 guidance=GuidanceConfig(scale=0.5, method="x0"))
        start = torch.as_tensor(agent.normalizer.normalize(np.concatenate([np.zeros(2), s])), dtype=torch.float32)
        assert torch.equal(out.samples[:, 0, 2:], start[2:].expand(3, -1))
    finally:
        env.close()


def test_distill_planner_rejects_bad_steps(distilled):
    teacher, _, registry, _ = distilled
    with pytest.raises(ValueError, match="sampler_steps must be 1 or 2"):
        distill_planner(teacher, sampler_steps=3, registry=registry)


def test_distillation_continues_from_an_earlier_student(distilled, monkeypatch):
    teacher, _, registry, _ = distilled
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(registry.home.parent / "minari"))  # the fixture's data
    cfg = DistillConfig(teacher_steps=4, pool_size=32, teacher_batch=32, steps=5, batch_size=16, warmup_steps=1, seed=1)
    again = distill_planner(teacher, name="tiny-distilled", config=cfg, registry=registry, init_from="tiny-distilled@v1",
                            progress=False).checkpoint
    assert again.metadata.version == 2 and again.metadata.parent == teacher.spec
    assert again.metadata.extra["student_init"] == "tiny-distilled@v1"
    assert again.config["model"] == registry.load("tiny-distilled@v1").config["model"]


def test_acting_conditions_are_what_the_planner_plans_with(distilled):
    """Recorded requests carry the teacher's own subgoal and deadline, and the pool's inputs
    built from them are exactly the planner's sampling inputs (same plan for the same noise)."""
    teacher, _, _, _ = distilled
    act = {**teacher.config["act"], "subgoal_cells": 1}
    sub = dataclasses.replace(teacher, config={**teacher.config, "act": act})
    record, planner = record_acting_conditions(sub, 6, PoolConfig(acting_share=1.0, rollout_steps=2, rollout_seed=123))
    assert len(record) == 6 and record.seeds[0] == 123 and record.episodes >= 1
    assert planner.act.subgoal_cells == 1 and planner.sampler_steps == 2
    env = gym.make(ENV)
    try:
        obs, _ = env.reset(seed=123)
    finally:
        env.close()
    np.testing.assert_allclose(record.states[0], obs["observation"])
    expected_goal = planner.task.subgoal(record.states[0], np.asarray(obs["desired_goal"], np.float64), 1)
    np.testing.assert_allclose(record.goals[0], expected_goal)
    assert record.steps_left[0] == planner.initial_deadline(record.states[0], record.goals[0])

    inpaint, vector = acting_inputs(planner, record.states[:3], record.goals[:3], record.steps_left[:3])
    assert inpaint.mask.shape == (3, planner.horizon, planner.action_dim + planner.obs_dim) and vector.shape[0] == 3
    for i in range(3):
        planner.generator.manual_seed(5)
        ref = planner.sample_plans(record.states[i], record.goals[i], int(record.steps_left[i]), 1).samples
        one = Inpainting(inpaint.mask[i : i + 1], inpaint.values[i : i + 1])
        out = sample(planner.model, planner.scheduler, tuple(one.mask.shape), device="cpu", conditioner=one,
                     cond=vector[i : i + 1], generator=torch.Generator().manual_seed(5)).samples
        assert torch.equal(out, ref)


def test_distillation_on_acting_conditions_reads_no_dataset(distilled, monkeypatch, tmp_path):
    teacher, _, registry, _ = distilled
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "no-datasets-here"))
    cfg = DistillConfig(teacher_steps=4, pool_size=24, teacher_batch=16, steps=5, batch_size=8, warmup_steps=1)
    ckpt = distill_planner(teacher, name="tiny-acting", config=cfg, registry=registry, pool=PoolConfig(acting_share=1.0),
                           student_model={"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]}, progress=False).checkpoint
    assert ckpt.config["distill"]["pool"] == dataclasses.asdict(PoolConfig(acting_share=1.0))
    rec = ckpt.metadata.extra["acting_conditions"]
    assert rec["n"] == 24 and rec["reset_seeds"][0] == 90_000 and rec["rollout"] == "ddim-1"


def test_distillation_records_an_earlier_students_acting_conditions(distilled):
    """DAgger-style: the pool's conditions come from the student's own rollouts (its own
    one-step sampler), the targets still from the teacher; a planner of another space is refused."""
    teacher, _, registry, _ = distilled
    cfg = DistillConfig(teacher_steps=4, pool_size=16, teacher_batch=16, steps=3, batch_size=8, warmup_steps=1)
    pool = PoolConfig(acting_share=1.0, rollout_agent="tiny-distilled@v1", rollout_seed=7)
    ckpt = distill_planner(teacher, name="tiny-dagger", config=cfg, registry=registry, pool=pool,
                           init_from="tiny-distilled@v1", progress=False).checkpoint
    rec = ckpt.metadata.extra["acting_conditions"]
    assert rec["rollout"] == "tiny-distilled@v1" and rec["reset_seeds"][0] == 7 and rec["n"] == 16
    other = registry.save("tiny-other-env", dataclasses.replace(teacher.metadata, env="adiff/PointMaze-Medium-v0"),
                          tensors=teacher.tensors, config=teacher.config)
    with pytest.raises(ValueError, match="must plan in the teacher"):
        distill_planner(teacher, config=cfg, registry=registry, progress=False,
                        pool=PoolConfig(acting_share=1.0, rollout_agent=other.spec))


def test_mixed_source_takes_its_share():
    def const(v):
        return lambda n, g: (Inpainting(torch.full((n, 3, 2), bool(v)), torch.full((n, 3, 2), float(v))), torch.full((n, 1), float(v)))

    inpaint, vector = mixed_source(const(1), const(0), 0.75)(8, torch.Generator())
    assert inpaint.values[:, 0, 0].tolist() == [1.0] * 6 + [0.0] * 2 and inpaint.mask[:6].all() and vector.sum() == 6
    assert mixed_source(const(1), None, 1.0)(4, torch.Generator())[0].mask.all()
    with pytest.raises(ValueError, match="windows source"):
        mixed_source(const(1), None, 0.5)


def test_pool_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"acting_share must be in \[0, 1\].*1.5"):
        PoolConfig(acting_share=1.5)
    with pytest.raises(UnknownNameError, match="Unknown rollout sampler 'dpim'.*Known rollout samplers: consistency, ddim, ddpm"):
        PoolConfig(rollout_sampler="dpim")
    with pytest.raises(ValueError, match="rollout_steps must be >= 1"):
        PoolConfig(rollout_steps=0)
    with pytest.raises(ConfigError, match="acting_share"):
        config.from_dict(PoolConfig, {"acting_share": -0.1}, "adiff maze distill options")


def test_shorten_pool_keeps_goals_below_the_student_horizon_and_rescales_the_fraction():
    h, d = 8, 3
    mask = torch.zeros(3, h, d, dtype=torch.bool)
    mask[:, 0, 1:] = True
    for i, j in enumerate((3, 5, 7)):
        mask[i, j:, 1] = True
    chain = torch.arange(3 * 2 * h * d, dtype=torch.float32).view(3, 2, h, d)
    cond = torch.tensor([[0.0, 3 / h], [1.0, 5 / h], [2.0, 7 / h]])
    pool = TeacherPool(chain, mask, chain[:, -1].clone(), cond, torch.tensor([7]))
    assert goal_indices(mask).tolist() == [3, 5, 7]
    short, dropped = shorten_pool(pool, 6, h, global_cond=True)
    assert dropped == 1 and len(short) == 2 and short.chain.shape == (2, 2, 6, d)
    assert torch.equal(short.chain, chain[:2, :, :6]) and torch.equal(short.mask, mask[:2, :6])
    torch.testing.assert_close(short.cond, torch.tensor([[0.0, 3 / 6], [1.0, 5 / 6]]))
    assert shorten_pool(pool, h, h, global_cond=True) == (pool, 0)
    with pytest.raises(ValueError, match="student's horizon must be in"):
        shorten_pool(pool, 9, h, global_cond=True)
    with pytest.raises(ValueError, match="no teacher-pool entry"):
        shorten_pool(pool, 3, h, global_cond=True)


def test_a_shorter_horizon_student_plans_its_own_rows_and_learns_from_its_own_rollouts(distilled, monkeypatch):
    """A student of half the teacher's horizon, continued from a full-horizon student (the
    U-Net's weights do not depend on H), then a DAgger round on its own rollouts: the teacher's
    inputs are rebuilt at the teacher's horizon, the student's targets are the first rows."""
    teacher, _, registry, _ = distilled
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(registry.home.parent / "minari"))  # the fixture's data
    monkeypatch.setenv("ADIFF_HOME", str(registry.home))
    h = teacher.config["dims"]["horizon"]
    act = {**teacher.config["act"], "subgoal_cells": 1}  # near subgoals: short deadlines, as the mazes act
    sub = dataclasses.replace(teacher, config={**teacher.config, "act": act})
    cfg = DistillConfig(teacher_steps=4, pool_size=32, teacher_batch=32, steps=4, batch_size=8, warmup_steps=1)
    short = distill_planner(sub, name="tiny-short", config=cfg, registry=registry, init_from="tiny-distilled@v1",
                            student_horizon=h // 2, pool=PoolConfig(acting_share=1.0), progress=False).checkpoint
    assert short.config["dims"]["horizon"] == h // 2 and short.config["model"]["config"]["horizon"] == h // 2
    assert short.config["preset"]["data"]["horizon"] == h // 2 and short.metadata.extra["student_horizon"] == h // 2
    assert 0 <= short.metadata.extra["pool_dropped_beyond_horizon"] < 32
    pool = PoolConfig(acting_share=1.0, rollout_agent="tiny-short@v1", rollout_seed=11)
    again = distill_planner(sub, name="tiny-short", config=cfg, registry=registry, init_from="tiny-short@v1",
                            pool=pool, progress=False).checkpoint  # the horizon of init_from by default
    assert again.metadata.version == 2 and again.metadata.extra["acting_conditions"]["rollout"] == "tiny-short@v1"
    assert again.config["dims"]["horizon"] == h // 2
    env = gym.make(ENV)
    try:
        agent = make_agent("planner:tiny-short@v2", env)
        obs, _ = env.reset(seed=0)
        for _ in range(5):
            action, _ = agent.predict(obs)
            obs, *_ = env.step(action)
        assert agent.horizon == h // 2 and agent.state.plan.shape[0] == h // 2 and np.all(np.abs(action) <= 1.0)
    finally:
        env.close()
    with pytest.raises(ValueError, match="student_horizon must be in"):
        distill_planner(sub, config=cfg, registry=registry, student_horizon=h + 2, progress=False)
