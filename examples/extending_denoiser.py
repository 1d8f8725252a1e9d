"""Add a denoiser: any ``nn.Module`` with ``forward(x_t, t, cond) -> prediction`` works with the
engine's loss, schedulers and sampling loop; nothing else changes (diffusers' model /
scheduler / pipeline split).

    uv run python examples/extending_denoiser.py [TRAIN_STEPS]

The toy data are straight 2-D paths of ``H = 8`` points from a random start to a random goal.
An MLP learns them in a few hundred steps, trained as it will be sampled: its ends pinned by
inpainting (the loss leaves pinned entries out), predicting the clean path (``x0``). DDIM then
draws paths between a new start and goal, and they come out nearly straight.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from adiff_env.diffusion import (
    CosineSchedule,
    DDIMScheduler,
    DiffusionObjective,
    Inpainting,
    OptimConfig,
    TrainStep,
    sample,
)

H, D = 8, 2  # horizon, features per step


class MLPDenoiser(nn.Module):
    """``forward(x_t [B, H, D], t [B] long, cond [B, C] or None) -> [B, H, D]`` (here the clean
    path ``x0``; the objective and scheduler are told which prediction it makes): the whole
    trajectory flattened, with a learned embedding of the diffusion step ``t``."""

    def __init__(self, horizon: int, dim: int, num_steps: int, hidden: int = 128) -> None:
        super().__init__()
        self.horizon, self.dim = horizon, dim
        self.t_embed = nn.Embedding(num_steps, hidden)
        self.inp = nn.Linear(horizon * dim, hidden)
        self.net = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, horizon * dim))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(x_t.flatten(1)) + self.t_embed(t)
        return self.net(h).view(-1, self.horizon, self.dim)


def straight_paths(n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n, H, 2]`` points evenly spaced from a start to a goal, both uniform in [-1, 1]^2."""
    ends = torch.rand(n, 2, 2, generator=generator) * 2 - 1
    w = torch.linspace(0, 1, H).view(1, H, 1)
    return ends[:, :1] * (1 - w) + ends[:, 1:] * w


def off_line(paths: torch.Tensor) -> float:
    """Mean distance of each point from the straight path between its ends (0 = straight)."""
    w = torch.linspace(0, 1, paths.shape[1]).view(1, -1, 1)
    line = paths[:, :1] * (1 - w) + paths[:, -1:] * w
    return float((paths - line).norm(dim=-1).mean())


def pin_ends(paths: torch.Tensor) -> Inpainting:
    """Pin each path's first and last point (``[B, H, D]`` constraint, one per path)."""
    return Inpainting.from_states(H, D, {0: paths[:, 0], H - 1: paths[:, -1]})


def train(train_steps: int = 300) -> tuple[MLPDenoiser, CosineSchedule]:
    """Fit an :class:`MLPDenoiser` to :func:`straight_paths` (seeded: the same weights each run)."""
    torch.set_num_threads(1)  # tiny model: threads only wait on each other
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    schedule = CosineSchedule(num_steps=50)
    model = MLPDenoiser(H, D, schedule.num_steps)
    objective = DiffusionObjective(schedule, prediction="x0")
    step = TrainStep(model, OptimConfig(lr=2e-3, warmup_steps=20, total_steps=train_steps))

    def loss() -> torch.Tensor:
        paths = straight_paths(128, gen)
        return objective(model, paths, conditioner=pin_ends(paths), generator=gen).loss

    for _ in range(train_steps):
        step(loss)
    return model, schedule


def main(train_steps: int = 300) -> dict[str, float]:
    model, schedule = train(train_steps)
    start, goal = torch.tensor([-0.8, -0.5]), torch.tensor([0.7, 0.9])
    pinned = Inpainting.from_states(H, D, {0: start, H - 1: goal})
    scheduler = DDIMScheduler(schedule, prediction="x0", clip_sample=1.0)  # the data live in [-1, 1]
    scheduler.set_timesteps(10)
    out = sample(model, scheduler, (16, H, D), device="cpu", generator=torch.Generator().manual_seed(1),
                 conditioner=pinned)
    untrained = sample(MLPDenoiser(H, D, schedule.num_steps), scheduler, (16, H, D), device="cpu",
                       generator=torch.Generator().manual_seed(1), conditioner=pinned)
    result = {"trained": off_line(out.samples), "untrained": off_line(untrained.samples),
              "ends_pinned": float(torch.equal(out.samples[:, 0], start.expand(16, 2))
                                   and torch.equal(out.samples[:, -1], goal.expand(16, 2)))}
    print(f"mean distance off the straight path: trained {result['trained']:.3f}, "
          f"untrained {result['untrained']:.3f}; ends pinned exactly: {bool(result['ends_pinned'])}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
