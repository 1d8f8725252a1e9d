import pytest
import torch
from diffusion_toy import AnalyticGMM

from adiff_env.diffusion._config import config_from_dict
from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.schedulers import make_scheduler
from adiff_env.diffusion.schedules import CosineSchedule
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig

SCHEDULE = CosineSchedule(num_steps=12)


def test_chain_reward_fn_ranking_and_seed_determinism():
    model = AnalyticGMM(SCHEDULE)
    sched = make_scheduler("ddpm", SCHEDULE, prediction="x0", steps=6)
    kw = dict(device="cpu", reward_fn=lambda x: -x.abs().sum(dim=(1, 2)), return_chain=True)
    a = sample(model, sched, (7, 3, 1), generator=torch.Generator().manual_seed(4), **kw)
    b = sample(model, sched, (7, 3, 1), generator=torch.Generator().manual_seed(4), **kw)
    c = sample(model, sched, (7, 3, 1), generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(a.samples, b.samples) and not torch.equal(a.samples, c.samples)
    assert a.chain.shape == (7, 7, 3, 1) and torch.equal(a.chain[-1], a.samples)
    assert a.rewards.shape == (7,) and a.rewards[a.ranking[0]] == a.rewards.max()
    assert not a.samples.is_inference() and a.samples.requires_grad is False


def test_pipeline_restores_training_mode_and_validates_shape():
    model = TemporalUNet(UNetConfig(transition_dim=2, horizon=4, dim=8, dim_mults=(1,)))
    model.train()
    sched = make_scheduler("ddim", SCHEDULE, steps=2)
    sample(model, sched, (1, 4, 2), device="cpu")
    assert model.training
    with pytest.raises(ValueError, match=r"\(N, H, D\)"):
        sample(model, sched, (4, 2), device="cpu")


def test_config_from_dict_errors():
    with pytest.raises(ValueError, match="JSON object"):
        config_from_dict(UNetConfig, [1, 2])
    with pytest.raises(ValueError, match=r"missing required key\(s\) \[.transition_dim.\]"):
        config_from_dict(UNetConfig, {"horizon": 8})
    assert config_from_dict(UNetConfig, {"transition_dim": 2, "horizon": 8, "dim_mults": [1, 2]}).dim_mults == (1, 2)
