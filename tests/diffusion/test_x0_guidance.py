"""x0-space guidance (DPS and gradient steps on the predicted x0) and the consistency scheduler."""

import pytest
import torch
from diffusion_toy import AnalyticGMM

from adiff_env.diffusion.conditioning import Inpainting
from adiff_env.diffusion.guidance import GUIDANCE_METHODS, GuidanceConfig, RewardGuide, x0_guided_step
from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.prediction import to_x0_eps, x0_to_output
from adiff_env.diffusion.schedulers import ConsistencyScheduler, make_scheduler, scheduler_from_dict
from adiff_env.diffusion.schedules import CosineSchedule
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig
from adiff_env.errors import UnknownNameError

SCHEDULE = CosineSchedule(num_steps=64)
TARGET = torch.tensor([1.0, 1.0])


def toy_reward(x):
    """Minus the squared distance of a 2-D point ``[B, 1, 2]`` to ``TARGET``."""
    return -(x - TARGET).square().sum(-1).mean(-1)


def draw_toy(method, scale, sampler="ddim", steps=10, n=500):
    # a tight prior (one mode, std 0.1): the exact denoiser's x0 depends little on x_t, as a
    # trained x0-predicting planner's does given its conditioning
    model = AnalyticGMM(SCHEDULE, means=(0.0,), std=0.1)
    sched = make_scheduler(sampler, SCHEDULE, prediction="x0", steps=steps)
    return sample(model, sched, (n, 1, 2), device="cpu", guide=RewardGuide(toy_reward),
                  guidance=GuidanceConfig(scale=scale, method=method),
                  generator=torch.Generator().manual_seed(0))


def test_x0_guidance_raises_reward_far_more_than_xt_guidance_at_the_same_scale():
    base = draw_toy("xt", 0.0).rewards.mean().item()
    xt = draw_toy("xt", 0.2).rewards.mean().item()
    x0 = draw_toy("x0", 0.2).rewards.mean().item()
    dps = draw_toy("dps", 0.2).rewards.mean().item()
    # measured (seed 0, 500 samples, DDIM-10): unguided -2.00, xt -1.82, dps -1.55, x0 -0.17
    assert base == pytest.approx(-2.0, abs=0.1)
    assert x0 - base > 5 * (xt - base) and x0 > -0.5, (base, xt, dps, x0)
    assert dps > xt, (xt, dps)  # through the denoiser's Jacobian: moves, but less than x0
    # one step (a distilled sampler's regime): only the x0 edit reaches the output
    one_xt = draw_toy("xt", 0.2, steps=1).rewards.mean().item()
    one_x0 = draw_toy("x0", 0.2, sampler="consistency", steps=1).rewards.mean().item()
    assert one_xt == pytest.approx(base, abs=0.05) and one_x0 > -0.5, (one_xt, one_x0)


@pytest.mark.parametrize("method", GUIDANCE_METHODS)
@pytest.mark.parametrize("sampler,steps", [("ddim", 5), ("ddpm", 8), ("consistency", 1), ("consistency", 2)])
def test_guidance_never_breaks_inpainted_entries(method, sampler, steps):
    torch.manual_seed(0)
    model = TemporalUNet(UNetConfig(transition_dim=3, horizon=16, dim=8, dim_mults=(1, 2), cond_dim=2))
    start = torch.tensor([0.123456, -1.5, 3.25])
    goal = torch.tensor([0.7, -0.3])
    cond = Inpainting.from_states(16, 3, {0: start}).merge(
        Inpainting.from_states(16, 3, {j: goal for j in range(10, 16)}, dims=[0, 1]))
    # the reward pulls hardest on the pinned entries themselves
    guide = RewardGuide(lambda x: 10 * x[:, 0].sum(-1) + x[:, 12:, :2].sum(dim=(1, 2)) + x[..., 2].sum(-1))
    sched = make_scheduler(sampler, CosineSchedule(num_steps=20), prediction="x0", steps=steps, eta=0.5)
    guidance = GuidanceConfig(scale=3.0, method=method, t_stopgrad=0, recurrence_steps=2, t_recurrence=20)
    out = sample(model, sched, (4, 16, 3), device="cpu", conditioner=cond, cond=torch.ones(4, 2), guide=guide,
                 guidance=guidance, generator=torch.Generator().manual_seed(1), return_chain=True)
    assert torch.equal(out.samples[:, 0], start.expand(4, 3))
    assert torch.equal(out.samples[:, 10:, :2], goal.expand(4, 6, 2))
    assert torch.equal(out.chain[:, :, 0], start.expand(steps + 1, 4, 3))
    plain = sample(model, sched, (4, 16, 3), device="cpu", conditioner=cond, cond=torch.ones(4, 2),
                   generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(out.samples, plain.samples)  # the guidance did move the free entries


def test_default_config_is_todays_xt_guidance_bit_for_bit():
    cfg = GuidanceConfig()
    assert (cfg.method, cfg.recurrence_steps, cfg.edits_x0, cfg.active) == ("xt", 0, False, True)
    a = draw_toy("xt", 0.2)
    b = sample(AnalyticGMM(SCHEDULE, means=(0.0,), std=0.1), make_scheduler("ddim", SCHEDULE, prediction="x0", steps=10),
               (500, 1, 2), device="cpu", guide=RewardGuide(toy_reward),
               guidance=GuidanceConfig(scale=0.2, n_guide_steps=2, t_stopgrad=2, scale_grad_by_std=True),
               generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.samples, b.samples)


def test_guidance_config_validation():
    with pytest.raises(UnknownNameError, match="guidance method"):
        GuidanceConfig(method="x_t")
    with pytest.raises(ValueError, match="recurrence_steps"):
        GuidanceConfig(recurrence_steps=-1)
    assert not GuidanceConfig(scale=0.0, method="dps").active
    assert GuidanceConfig(method="dps", n_guide_steps=0).active  # dps takes one gradient regardless
    assert GuidanceConfig(method="xt", n_guide_steps=0, recurrence_steps=1).edits_x0


@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v"])
def test_x0_to_output_round_trips(prediction):
    g = torch.Generator().manual_seed(0)
    x0, x_t = torch.randn(3, 4, 2, generator=g), torch.randn(3, 4, 2, generator=g)
    out = x0_to_output(x0, x_t, 0.3, prediction)
    assert torch.allclose(to_x0_eps(out, x_t, 0.3, prediction)[0], x0, atol=1e-5)


def test_x0_guided_step_without_scale_is_the_plain_step():
    model = AnalyticGMM(SCHEDULE, means=(0.0,), std=0.1, prediction="epsilon")
    sched = make_scheduler("ddim", SCHEDULE, prediction="epsilon", steps=4)
    x = torch.randn(5, 1, 2, generator=torch.Generator().manual_seed(0))
    t = int(sched.timesteps[1])
    plain = sched.step(model(x, torch.full((5,), t), None), t, x)
    off = x0_guided_step(model, sched, x, t, None, RewardGuide(toy_reward), GuidanceConfig(scale=0.0, method="x0"))
    assert torch.allclose(off.prev_sample, plain.prev_sample, atol=1e-5)


def test_consistency_scheduler_steps():
    sched = make_scheduler("consistency", SCHEDULE, prediction="x0", steps=2)
    assert isinstance(sched, ConsistencyScheduler) and sched.timesteps.tolist() == [63, 31]
    x0 = torch.full((2, 3, 1), 0.5)
    x_t = torch.randn(2, 3, 1, generator=torch.Generator().manual_seed(0))
    last = sched.step(x0, 31, x_t)
    assert torch.equal(last.prev_sample, x0)  # the last step returns the prediction itself
    ddim = make_scheduler("ddim", SCHEDULE, prediction="x0", steps=2)
    assert torch.allclose(sched.step(x0, 63, x_t).prev_sample, ddim.step(x0, 63, x_t).prev_sample)  # eta 0 = DDIM
    fresh = make_scheduler("consistency", SCHEDULE, prediction="x0", steps=2, eta=1.0)
    g = torch.Generator().manual_seed(3)
    mid = fresh.step(x0, 63, x_t, generator=g).prev_sample
    abar = float(fresh.alphas_cumprod[31])
    z = torch.randn(2, 3, 1, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(mid, abar**0.5 * x0 + (1 - abar) ** 0.5 * z, atol=1e-6)
    assert scheduler_from_dict(fresh.config()).config() == fresh.config()
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
        ConsistencyScheduler(SCHEDULE, eta=1.5)
