"""A learned value network for guidance: ``V(x_t, t) ~ return of the clean trajectory``.

As Diffuser's ``ValueFunction``: the U-Net's encoder half (residual temporal blocks with
downsampling) over ``[B, H, D]``, flattened, then an MLP to one number per trajectory. It is
trained on noisy trajectories ``x_t = add_noise(x0, eps, t)`` with the clean trajectory's
return as the target (:func:`value_loss`), so its gradient is meaningful at every step of the
reverse process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from adiff_env.diffusion.layers import (
    Downsample1d,
    ResidualTemporalBlock,
    TimeEmbedding,
    as_timestep_batch,
    check_trajectory,
)
from adiff_env.diffusion.prediction import randn
from adiff_env.diffusion.schedules import NoiseSchedule
from adiff_env.diffusion.unet import validate_horizon


@dataclass(frozen=True)
class ValueNetConfig:
    """Constructor arguments of :class:`ValueNet`: ``transition_dim`` D, ``horizon`` H
    (divisible by ``2 ** len(dim_mults)``: every level downsamples), channels ``dim *
    dim_mults[i]``, MLP width ``hidden``."""

    transition_dim: int
    horizon: int
    dim: int = 32
    dim_mults: tuple[int, ...] = (1, 2, 4)
    kernel_size: int = 5
    hidden: int = 256

    def __post_init__(self) -> None:
        validate_horizon(self.horizon, (1, *self.dim_mults))


class ValueNet(nn.Module):
    """``forward(x_t: [B, H, D], t: [B] or scalar, cond=None) -> [B]`` predicted return."""

    def __init__(self, config: ValueNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        dims = [c.transition_dim, *(c.dim * m for m in c.dim_mults)]
        self.time_embed = TimeEmbedding(c.dim, c.dim)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [
                    ResidualTemporalBlock(d_in, d_out, c.dim, c.kernel_size),
                    ResidualTemporalBlock(d_out, d_out, c.dim, c.kernel_size),
                    Downsample1d(d_out),
                ]
            )
            for d_in, d_out in zip(dims[:-1], dims[1:])
        )
        flat = dims[-1] * (c.horizon // 2 ** len(c.dim_mults))
        self.head = nn.Sequential(
            nn.Linear(flat + c.dim, c.hidden), nn.Mish(), nn.Linear(c.hidden, 1)
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_trajectory(x_t, self.config.transition_dim, "ValueNet")
        if x_t.shape[1] != self.config.horizon:
            raise ValueError(
                f"ValueNet was built for horizon {self.config.horizon}, got {x_t.shape[1]}."
            )
        emb = self.time_embed(as_timestep_batch(t, x_t.shape[0], x_t.device))
        h = x_t.transpose(1, 2)
        for block1, block2, down in self.blocks:
            h = down(block2(block1(h, emb), emb))
        return self.head(torch.cat([h.flatten(1), emb], dim=-1)).squeeze(-1)


def value_loss(
    model: nn.Module,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    returns: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """MSE between ``model(x_t, t)`` and ``returns`` ``[B]`` for uniform ``t`` and
    ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``; ``x0`` is ``[B, H, D]``."""
    if returns.shape != (x0.shape[0],):
        raise ValueError(
            f"returns must be [B] = [{x0.shape[0]}], got {tuple(returns.shape)}."
        )
    gen_device = generator.device if generator is not None else x0.device
    t = torch.randint(0, schedule.num_steps, (x0.shape[0],), generator=generator, device=gen_device)
    t = t.to(x0.device)
    abar = schedule.alphas_cumprod().to(x0.device, x0.dtype)[t].view(-1, 1, 1)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * randn(tuple(x0.shape), x0, generator)
    return F.mse_loss(model(x_t, t), returns.to(x0.dtype))
