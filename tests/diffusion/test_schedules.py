import pytest
import torch

from adiff_env.diffusion.schedules import (
    CosineSchedule,
    LinearSchedule,
    SigmoidSchedule,
    make_schedule,
    schedule_from_dict,
)
from adiff_env.errors import UnknownNameError


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
@pytest.mark.parametrize("steps", [1, 5, 64, 1000])
def test_schedule_bounds_and_monotone(name, steps):
    s = make_schedule(name, steps)
    betas, alphas, abar = s.betas(), s.alphas(), s.alphas_cumprod()
    assert betas.shape == alphas.shape == abar.shape == (steps,)
    assert bool(((betas > 0) & (betas < 1)).all())
    assert torch.allclose(alphas, 1 - betas)
    assert torch.allclose(abar, torch.cumprod(alphas, 0))
    assert bool((abar[1:] < abar[:-1]).all())
    assert 0 < abar[-1] <= abar[0] <= 1
    pv = s.posterior_variance()
    assert pv[0] == 0 and bool((pv[1:] > 0).all()) and bool((pv <= betas + 1e-12).all())


def test_long_schedules_reach_noise():
    for name in ("linear", "cosine", "sigmoid"):
        assert make_schedule(name, 64).alphas_cumprod()[-1] < 0.05, name


def test_linear_explicit_betas_and_validation():
    s = LinearSchedule(num_steps=10, beta_start=0.01, beta_end=0.2)
    assert s.betas()[0].item() == pytest.approx(0.01) and s.betas()[-1].item() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        LinearSchedule(num_steps=10, beta_start=0.3, beta_end=0.2).betas()
    with pytest.raises(ValueError, match="num_steps must be a positive int"):
        CosineSchedule(num_steps=0)


def test_schedule_json_round_trip_and_unknown_name():
    for s in (LinearSchedule(20), CosineSchedule(30, s=0.01), SigmoidSchedule(40, tau=0.5)):
        assert schedule_from_dict(s.to_dict()) == s
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'"):
        make_schedule("cosin", 10)
    with pytest.raises(UnknownNameError):
        schedule_from_dict({"name": "nope", "num_steps": 3})
    with pytest.raises(ValueError, match="name"):
        schedule_from_dict({"num_steps": 3})
    with pytest.raises(ValueError, match="bad fields"):
        schedule_from_dict({"name": "cosine", "num_steps": 3, "wat": 1})
