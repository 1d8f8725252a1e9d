"""Distilling a (tiny, really trained) trajectory planner into a one-step consistency planner:
a new registry version with its parent, loadable as ``planner:NAME`` with no planner code change."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_planner import ENV, tiny_preset

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.agents import make_agent
from adiff_env.diffusion import DistillConfig, GuidanceConfig, RewardGuide
from adiff_env.diffusion.schedulers import ConsistencyScheduler
from adiff_env.planners.distill import distill_planner
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
