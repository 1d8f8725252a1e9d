import pytest
import torch
from diffusion_toy import AnalyticGMM, gmm_moments

from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.prediction import prediction_target, to_x0_eps
from adiff_env.diffusion.schedulers import (
    DDIMScheduler,
    DDPMScheduler,
    make_scheduler,
    scheduler_from_dict,
    spaced_timesteps,
)
from adiff_env.diffusion.schedules import CosineSchedule, LinearSchedule
from adiff_env.errors import UnknownNameError

SCHEDULE = CosineSchedule(num_steps=50)


def draw(scheduler, model, n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return sample(model, scheduler, (n, 1, 1), device="cpu", generator=g).samples.flatten()


@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
@pytest.mark.parametrize("n", [1, 3, 10, 50])
def test_spaced_timesteps_descending_distinct_in_range(spacing, n):
    steps = spaced_timesteps(50, n, spacing)
    assert len(steps) == n and len(set(steps.tolist())) == n
    assert (steps[:-1] > steps[1:]).all() and steps.min() >= 0 and steps.max() <= 49
    if spacing == "trailing":
        assert steps[0] == 49
    if n == 50:
        assert steps.tolist() == list(range(49, -1, -1))


def test_set_timesteps_validation():
    s = DDIMScheduler(SCHEDULE)
    with pytest.raises(ValueError, match=r"in \[1, 50\]"):
        s.set_timesteps(51)
    with pytest.raises(ValueError, match=r"in \[1, 50\]"):
        s.set_timesteps(0)
    s.set_timesteps(5)
    with pytest.raises(ValueError, match="not in this scheduler's timesteps"):
        s.step(torch.zeros(1, 1, 1), 48, torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="one diffusion step for the whole batch"):
        s.step(torch.zeros(2, 1, 1), torch.tensor([49, 39]), torch.zeros(2, 1, 1))
    out = s.step(torch.zeros(2, 1, 1), torch.tensor([49, 49]), torch.ones(2, 1, 1))
    assert out.prev_sample.shape == out.pred_x0.shape == (2, 1, 1)
    with pytest.raises(ValueError, match="eta must be >= 0"):
        DDIMScheduler(SCHEDULE, eta=-1)
    with pytest.raises(UnknownNameError):
        DDIMScheduler(SCHEDULE, prediction="noise")
    with pytest.raises(UnknownNameError):
        DDIMScheduler(SCHEDULE, spacing="uniform")
    with pytest.raises(ValueError, match="clip_sample"):
        DDPMScheduler(SCHEDULE, clip_sample=0)


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_prediction_conversions_invert(prediction):
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 3, 2, generator=g), torch.randn(4, 3, 2, generator=g)
    abar = torch.tensor([0.9, 0.5, 0.1, 0.01])
    a = abar.view(-1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    out = prediction_target(x0, eps, abar, prediction)
    x0_hat, eps_hat = to_x0_eps(out, x_t, abar, prediction)
    assert torch.allclose(x0_hat, x0, atol=1e-5) and torch.allclose(eps_hat, eps, atol=1e-5)


def test_add_noise_matches_forward_process():
    s = DDPMScheduler(SCHEDULE)
    x0, noise = torch.ones(2, 3, 1), torch.full((2, 3, 1), 2.0)
    t = torch.tensor([0, 49])
    out = s.add_noise(x0, noise, t)
    abar = SCHEDULE.alphas_cumprod()[t].float()
    expect = abar.sqrt() + 2 * (1 - abar).sqrt()
    assert torch.allclose(out[:, 0, 0], expect)
    assert torch.allclose(s.add_noise(x0, noise, 49), out[1:2].expand(2, 3, 1))


def test_ddim_eta1_full_steps_is_ddpm_pathwise_and_in_distribution():
    model = AnalyticGMM(SCHEDULE)
    ddpm = draw(DDPMScheduler(SCHEDULE, prediction="x0"), model)
    ddim = draw(DDIMScheduler(SCHEDULE, prediction="x0", eta=1.0), model)
    # same seed, same noise draws: the two update rules coincide up to float error
    assert torch.allclose(ddpm, ddim, atol=1e-4)
    # and in distribution, with a different seed for DDIM
    ddim2 = draw(DDIMScheduler(SCHEDULE, prediction="x0", eta=1.0), model, seed=7)
    mean, var = gmm_moments()
    for xs in (ddpm, ddim2):
        assert abs(xs.mean().item() - mean) < 0.15
        assert abs(xs.var().item() - var) / var < 0.05
        assert abs((xs > 0).float().mean().item() - 0.5) < 0.05
        within = (xs.abs() - 2.0).std().item()  # the per-mode spread, 0.3 for the data
        assert 0.25 < within < 0.36
    assert abs(ddpm.mean() - ddim2.mean()) < 0.2 and abs(ddpm.var() - ddim2.var()) < 0.2


@pytest.mark.parametrize("name,eta", [("ddim", 0.0), ("ddim", 0.5), ("ddpm", 0.0)])
def test_few_step_samplers_match_data_distribution(name, eta):
    model = AnalyticGMM(SCHEDULE)
    xs = draw(make_scheduler(name, SCHEDULE, prediction="x0", steps=10, eta=eta), model)
    mean, var = gmm_moments()
    assert abs(xs.mean().item() - mean) < 0.15
    assert abs(xs.var().item() - var) / var < 0.1
    assert 0.2 < (xs.abs() - 2.0).std().item() < 0.4


def test_ddim_error_shrinks_with_more_steps():
    """With the exact denoiser DDIM(eta=0) is the probability-flow ODE; its discretisation
    error (measured on the variance) falls as steps grow and is small at T steps."""
    model = AnalyticGMM(SCHEDULE)
    _, var = gmm_moments()
    errors = [
        abs(draw(make_scheduler("ddim", SCHEDULE, prediction="x0", steps=n), model).var().item() - var)
        for n in (5, 10, 25, 50)
    ]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] / var < 0.04


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("name", ["ddpm", "ddim"])
def test_any_prediction_type_gives_the_same_samples(prediction, name):
    ref = draw(make_scheduler(name, SCHEDULE, prediction="x0", steps=10), AnalyticGMM(SCHEDULE), n=200)
    other = draw(
        make_scheduler(name, SCHEDULE, prediction=prediction, steps=10),
        AnalyticGMM(SCHEDULE, prediction=prediction),
        n=200,
    )
    assert torch.allclose(ref, other, atol=1e-3)


def test_clip_sample_bounds_pred_x0_and_ddim_deterministic():
    model = AnalyticGMM(SCHEDULE, means=(-5.0, 5.0))
    s = DDIMScheduler(SCHEDULE, prediction="x0", clip_sample=1.0)
    s.set_timesteps(5)
    x = torch.randn(16, 1, 1, generator=torch.Generator().manual_seed(0))
    for t in s.timesteps:
        out = s.step(model(x, t.expand(16)), t, x)
        assert out.pred_x0.abs().max() <= 1.0
        x = out.prev_sample
    assert x.abs().max() <= 1.0 + 1e-5
    a = draw(make_scheduler("ddim", SCHEDULE, prediction="x0", steps=8), model, n=10, seed=1)
    b = draw(make_scheduler("ddim", SCHEDULE, prediction="x0", steps=8), model, n=10, seed=2)
    assert not torch.equal(a, b)  # initial noise differs; eta=0 adds none after


def test_scheduler_config_round_trip():
    for s in (
        make_scheduler("ddim", LinearSchedule(30), prediction="v", steps=7, eta=0.3, clip_sample=2.0),
        make_scheduler("ddpm", CosineSchedule(20), prediction="x0", spacing="leading"),
    ):
        back = scheduler_from_dict(s.config())
        assert back.config() == s.config() and torch.equal(back.timesteps, s.timesteps)
        assert type(s).__name__ in repr(s)
    with pytest.raises(UnknownNameError, match="ddim"):
        make_scheduler("dpm", CosineSchedule(10))
    with pytest.raises(ValueError, match="misses"):
        scheduler_from_dict({"name": "ddim"})
    with pytest.raises(ValueError, match="bad scheduler config"):
        scheduler_from_dict({**s.config(), "gamma": 1})
