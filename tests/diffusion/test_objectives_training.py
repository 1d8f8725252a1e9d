import math

import pytest
import torch
from torch import nn

from adiff_env.diffusion.conditioning import Inpainting
from adiff_env.diffusion.objectives import DiffusionObjective
from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.prediction import prediction_target
from adiff_env.diffusion.schedulers import make_scheduler
from adiff_env.diffusion.schedules import CosineSchedule
from adiff_env.diffusion.training import EMA, OptimConfig, TrainStep, lr_factor
from adiff_env.diffusion.transformer import TransformerConfig, TransformerDenoiser
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig
from adiff_env.errors import UnknownNameError

SCHEDULE = CosineSchedule(num_steps=20)


class Oracle(nn.Module):
    """Returns the exact target: it knows x0 and the noise the objective will draw."""

    def __init__(self, x0, eps, prediction, corrupt_mask=None):
        super().__init__()
        self.x0, self.eps, self.prediction, self.corrupt = x0, eps, prediction, corrupt_mask

    def forward(self, x_t, t, cond=None):
        abar = SCHEDULE.alphas_cumprod().float()[t]
        out = prediction_target(self.x0, self.eps, abar, self.prediction)
        if self.corrupt is not None:
            out = torch.where(self.corrupt, out + 100.0, out)
        return out


def oracle_loss(prediction, loss="l2", weights=None, conditioner=None, corrupt=None):
    x0 = torch.randn(4, 6, 2, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([0, 5, 10, 19])
    eps = torch.randn(4, 6, 2, generator=torch.Generator().manual_seed(9))
    obj = DiffusionObjective(SCHEDULE, prediction, loss, weights)
    return obj(Oracle(x0, eps, prediction, corrupt), x0, t=t, conditioner=conditioner,
               generator=torch.Generator().manual_seed(9))


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_exact_prediction_has_zero_loss(prediction, loss):
    out = oracle_loss(prediction, loss)
    assert out.loss.item() < 1e-10 and out.per_sample.shape == (4,)
    assert out.t.tolist() == [0, 5, 10, 19]


def test_pinned_entries_and_zero_weights_are_left_out_of_the_loss():
    pin = Inpainting.from_states(6, 2, {0: [1.0, 1.0], 5: [2.0, 2.0]})
    corrupt = pin.mask.expand(4, 6, 2)
    assert oracle_loss("epsilon", corrupt=corrupt).loss.item() > 1.0
    assert oracle_loss("epsilon", conditioner=pin, corrupt=corrupt).loss.item() < 1e-10
    w = torch.tensor([1.0, 0.0])
    corrupt_dim = torch.zeros(4, 6, 2, dtype=torch.bool)
    corrupt_dim[..., 1] = True
    assert oracle_loss("x0", weights=w, corrupt=corrupt_dim).loss.item() < 1e-10
    w_hd = torch.ones(6, 2)
    w_hd[:, 1] = 0
    assert oracle_loss("v", weights=w_hd, corrupt=corrupt_dim).loss.item() < 1e-10


def test_l1_l2_and_weighted_average():
    # model predicting zeros for x0: loss = weighted mean of x0^2 (l2) or |x0| (l1)
    x0 = torch.full((2, 4, 2), 2.0)
    zero = lambda x_t, t, cond=None: torch.zeros_like(x_t)  # noqa: E731
    assert DiffusionObjective(SCHEDULE, "x0", "l2")(zero, x0).loss.item() == pytest.approx(4.0)
    assert DiffusionObjective(SCHEDULE, "x0", "l1")(zero, x0).loss.item() == pytest.approx(2.0)
    x0[..., 1] = 4.0
    w = torch.tensor([3.0, 1.0])
    assert DiffusionObjective(SCHEDULE, "x0", "l1", w)(zero, x0).loss.item() == pytest.approx((3 * 2 + 4) / 4)


def test_objective_validation():
    with pytest.raises(UnknownNameError):
        DiffusionObjective(SCHEDULE, "score")
    with pytest.raises(UnknownNameError):
        DiffusionObjective(SCHEDULE, "x0", "huber")
    with pytest.raises(ValueError, match="non-negative"):
        DiffusionObjective(SCHEDULE, "x0", weights=torch.tensor([-1.0]))
    with pytest.raises(ValueError, match=r"do not fit"):
        DiffusionObjective(SCHEDULE, "x0", weights=torch.ones(3))(
            lambda x, t, c=None: x, torch.zeros(1, 4, 2))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["unet", "transformer"])
def test_tiny_model_overfits_one_trajectory_and_reproduces_it(arch):
    torch.manual_seed(0)
    h = 16
    s = torch.linspace(0, math.pi, h)
    traj = torch.stack([torch.cos(s), torch.sin(s)], dim=-1)[None]  # [1, 16, 2] half circle
    if arch == "unet":
        model = TemporalUNet(UNetConfig(transition_dim=2, horizon=h, dim=16, dim_mults=(1, 2)))
    else:
        model = TransformerDenoiser(TransformerConfig(transition_dim=2, d_model=32, n_layers=2, n_heads=2))
    objective = DiffusionObjective(SCHEDULE, prediction="x0")
    gen = torch.Generator().manual_seed(0)
    ema = EMA(model, decay=0.9)
    trainer = TrainStep(model, OptimConfig(lr=3e-3, warmup_steps=20, total_steps=250), ema=ema)
    batch = traj.expand(16, h, 2)
    for _ in range(250):
        loss = trainer(lambda: objective(model, batch, generator=gen).loss)
    assert loss < 0.05
    for name in ("ddpm", "ddim"):
        sched = make_scheduler(name, SCHEDULE, prediction="x0", steps=10)
        out = sample(ema.shadow, sched, (4, h, 2), device="cpu", generator=torch.Generator().manual_seed(1))
        err = (out.samples - traj).abs().max().item()
        assert err < 0.15, (name, err)


def test_lr_schedule_warmup_then_cosine():
    c = OptimConfig(lr=1.0, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    assert lr_factor(0, c) == pytest.approx(0.1) and lr_factor(9, c) == pytest.approx(1.0)
    assert lr_factor(60, c) == pytest.approx(0.55) and lr_factor(110, c) == pytest.approx(0.1)
    assert lr_factor(10_000, c) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lr > 0"):
        OptimConfig(lr=0)


def test_train_step_ema_and_resume_state():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    ema = EMA(model, decay=0.5, start_step=1)
    trainer = TrainStep(model, OptimConfig(lr=0.1, warmup_steps=0, total_steps=10), ema=ema)
    x, y = torch.randn(16, 2), torch.randn(16, 1)
    w_prev = model.weight.detach().clone()
    trainer(lambda: ((model(x) - y) ** 2).mean())
    assert torch.equal(ema.shadow.weight, model.weight)  # before start_step: a copy
    w1 = model.weight.detach().clone()
    trainer(lambda: ((model(x) - y) ** 2).mean())
    assert torch.allclose(ema.shadow.weight, 0.5 * w1 + 0.5 * model.weight)
    assert not torch.equal(w_prev, w1) and trainer.step == 2 and trainer.lr < 0.1
    other = nn.Linear(2, 1)
    ema.copy_to(other)
    assert torch.equal(other.weight, ema.state_dict()["weight"])
    fresh = TrainStep(nn.Linear(2, 1), OptimConfig(lr=0.1, warmup_steps=0, total_steps=10))
    fresh.load_state_dict(trainer.state_dict())
    assert fresh.step == 2 and fresh.lr == pytest.approx(trainer.lr)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        trainer(lambda: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)
