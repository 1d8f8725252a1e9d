"""Distillation into a one/two-step student: on a toy, its one-step samples match the teacher's
DDIM-10 samples from the same noise."""

import pytest
import torch
from diffusion_toy import AnalyticGMM
from torch import nn

from adiff_env.diffusion.conditioning import Inpainting
from adiff_env.diffusion.distill import DistillConfig, distill, teacher_pool
from adiff_env.diffusion.guidance import GuidanceConfig, RewardGuide
from adiff_env.diffusion.pipeline import sample
from adiff_env.diffusion.schedulers import make_scheduler
from adiff_env.diffusion.schedules import CosineSchedule

SCHEDULE = CosineSchedule(num_steps=64)
H, D = 4, 2
PINNED = 1.234  # entry (0, 0) is inpainted


class EntryMLP(nn.Module):
    """A per-entry student ``x0 = f(x_t, t / T)`` (the toy teacher is independent per entry)."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x, t, cond=None):
        tt = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1).expand_as(x) / SCHEDULE.num_steps
        return self.net(torch.stack([x, tt], dim=-1)).squeeze(-1)


def conditions(n, generator):
    return Inpainting.from_states(H, D, {0: torch.full((n, 1), PINNED)}, dims=[0]), None


def test_distilled_one_step_matches_teacher_ddim10():
    torch.manual_seed(0)
    teacher = AnalyticGMM(SCHEDULE)  # bimodal +-2: one-step DDIM of the teacher gives the mean, 0
    cfg = DistillConfig(teacher_steps=10, pool_size=1024, teacher_batch=512, steps=500, batch_size=128,
                        lr=3e-3, warmup_steps=20, ema_decay=0.9)
    pool = teacher_pool(teacher, SCHEDULE, "x0", conditions, cfg)
    assert pool.chain.shape == (1024, 11, H, D) and pool.timesteps.tolist()[0] == 63
    result = distill(EntryMLP(), SCHEDULE, pool, cfg)
    assert result.losses[-1] < result.losses[0]

    inpaint, _ = conditions(400, None)
    def draw(model, sampler, steps):
        sched = make_scheduler(sampler, SCHEDULE, prediction="x0", steps=steps)
        return sample(model, sched, (400, H, D), device="cpu", conditioner=inpaint,
                      generator=torch.Generator().manual_seed(123)).samples

    ref = draw(teacher, "ddim", 10)
    one = draw(result.student, "consistency", 1)
    two = draw(result.student, "consistency", 2)
    teacher_one = draw(teacher, "ddim", 1)
    free = ~inpaint.mask.expand(400, H, D)
    err = (one - ref).abs()[free].mean().item()
    err2 = (two - ref).abs()[free].mean().item()
    base = (teacher_one - ref).abs()[free].mean().item()
    close = ((one - ref).abs()[free] < 0.5).float().mean().item()
    # measured: mean abs error student 1 step 0.21, 2 steps 0.13, the teacher's own 1 step 1.92 (it
    # predicts the mixture mean); the student's errors sit at the few noises near the boundary
    # between the two modes, where the teacher's map jumps from -2 to +2
    assert err < 0.35 and err < base / 5, (err, base)
    assert close > 0.8, close  # measured 0.86 within 0.5 of the teacher (the teacher's own 1 step: ~0)
    assert err2 < 0.35, err2
    assert torch.equal(one[:, 0, 0], torch.full((400,), PINNED))
    # x0-space guidance still steers the one-step student
    guided = sample(result.student, make_scheduler("consistency", SCHEDULE, prediction="x0", steps=1), (400, H, D),
                    device="cpu", conditioner=inpaint, guide=RewardGuide(lambda x: x[..., 1].sum(-1)),
                    guidance=GuidanceConfig(scale=0.5, method="x0"), generator=torch.Generator().manual_seed(123))
    assert guided.samples[..., 1].mean() > one[..., 1].mean() + 0.5


def test_distill_config_validation():
    with pytest.raises(ValueError, match="pool_size"):
        DistillConfig(pool_size=0)
    with pytest.raises(ValueError, match="two_step_weight"):
        DistillConfig(two_step_weight=-1.0)
    with pytest.raises(ValueError, match="batched"):
        teacher_pool(AnalyticGMM(SCHEDULE), SCHEDULE, "x0",
                     lambda n, g: (Inpainting.from_states(H, D, {0: [0.0, 0.0]}), None), DistillConfig(pool_size=2))
