"""Temporal U-Net denoiser over the planning horizon (Janner et al. 2022, Diffuser).

The trajectory ``x: [B, H, D]`` is treated as a 1-D signal of ``D`` channels over ``H`` time
steps. Each resolution level has two :class:`ResidualTemporalBlock` s (Conv1d + GroupNorm +
Mish, diffusion-step embedding added) and a stride-2 downsample; the decoder mirrors it with
skip connections and transposed-conv upsampling. With ``dim_mults`` of length ``L`` the
horizon is halved ``L - 1`` times, so ``H`` must be divisible by ``2 ** (L - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from adiff_env.diffusion.layers import (
    Conv1dBlock,
    Downsample1d,
    ResidualTemporalBlock,
    TimeEmbedding,
    Upsample1d,
    as_timestep_batch,
    check_trajectory,
)


@dataclass(frozen=True)
class UNetConfig:
    """Constructor arguments of :class:`TemporalUNet` (saved as JSON with the weights).

    ``transition_dim`` D: features per time step. ``horizon`` H: the planning horizon (must be
    divisible by ``2 ** (len(dim_mults) - 1)``). ``dim``: channels at the first level; level i
    has ``dim * dim_mults[i]``. ``cond_dim``: width of an optional global condition vector
    (0 = none; with cond_dim > 0, ``cond=None`` adds no condition term, a null condition for
    classifier-free training). Defaults: dim 32, mults (1, 2, 4) -> about 1M parameters for D = 6.
    """

    transition_dim: int
    horizon: int
    dim: int = 32
    dim_mults: tuple[int, ...] = (1, 2, 4)
    kernel_size: int = 5
    cond_dim: int = 0

    def __post_init__(self) -> None:
        validate_horizon(self.horizon, self.dim_mults)
        if self.transition_dim < 1 or self.dim < 1 or self.cond_dim < 0:
            raise ValueError(
                f"UNetConfig needs transition_dim >= 1, dim >= 1, cond_dim >= 0; got "
                f"{self.transition_dim}, {self.dim}, {self.cond_dim}."
            )


def validate_horizon(horizon: int, dim_mults: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``horizon`` is divisible by ``2 ** (len(dim_mults) - 1)``."""
    if not dim_mults:
        raise ValueError("dim_mults must have at least one level, e.g. (1, 2, 4).")
    factor = 2 ** (len(dim_mults) - 1)
    if horizon < factor or horizon % factor:
        lower = max(factor, horizon - horizon % factor)
        raise ValueError(
            f"horizon {horizon} must be a positive multiple of 2**(len(dim_mults)-1) = {factor} "
            f"for dim_mults={tuple(dim_mults)}; use horizon {lower} or {lower + factor}, or fewer "
            "levels."
        )


class TemporalUNet(nn.Module):
    """``forward(x_t: [B, H, D], t: [B] or scalar, cond: [B, cond_dim] | None) -> [B, H, D]``.

    The output is whatever the objective trains it to predict (noise, x0 or v).
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        dims = [c.transition_dim, *(c.dim * m for m in c.dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))
        emb = c.dim
        self.time_embed = TimeEmbedding(c.dim, emb)
        self.cond_proj = nn.Linear(c.cond_dim, emb) if c.cond_dim else None
        k = c.kernel_size

        self.downs = nn.ModuleList()
        for i, (d_in, d_out) in enumerate(in_out):
            last = i == len(in_out) - 1
            self.downs.append(
                nn.ModuleList(
                    [
                        ResidualTemporalBlock(d_in, d_out, emb, k),
                        ResidualTemporalBlock(d_out, d_out, emb, k),
                        nn.Identity() if last else Downsample1d(d_out),
                    ]
                )
            )
        mid = dims[-1]
        self.mid1 = ResidualTemporalBlock(mid, mid, emb, k)
        self.mid2 = ResidualTemporalBlock(mid, mid, emb, k)
        self.ups = nn.ModuleList()
        for d_in, d_out in reversed(in_out[1:]):
            self.ups.append(
                nn.ModuleList(
                    [
                        ResidualTemporalBlock(d_out * 2, d_in, emb, k),
                        ResidualTemporalBlock(d_in, d_in, emb, k),
                        Upsample1d(d_in),
                    ]
                )
            )
        self.final = nn.Sequential(Conv1dBlock(c.dim, c.dim, k), nn.Conv1d(c.dim, c.transition_dim, 1))

    def embed(self, t: torch.Tensor | int, batch: int, cond: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        """Step (+ condition) embedding ``[B, dim]``."""
        emb = self.time_embed(as_timestep_batch(t, batch, device))
        if cond is not None and self.cond_proj is None:
            raise ValueError("this denoiser was built with cond_dim=0 and takes cond=None.")
        if self.cond_proj is not None and cond is not None:
            emb = emb + self.cond_proj(cond)
        return emb

    def forward(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_trajectory(x_t, self.config.transition_dim, "TemporalUNet")
        validate_horizon(x_t.shape[1], self.config.dim_mults)
        emb = self.embed(t, x_t.shape[0], cond, x_t.device)
        x = x_t.transpose(1, 2)
        skips = []
        for block1, block2, down in self.downs:
            x = block2(block1(x, emb), emb)
            skips.append(x)
            x = down(x)
        x = self.mid2(self.mid1(x, emb), emb)
        for block1, block2, up in self.ups:
            x = torch.cat([x, skips.pop()], dim=1)
            x = up(block2(block1(x, emb), emb))
        return self.final(x).transpose(1, 2)
