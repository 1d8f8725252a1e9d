"""Building blocks shared by the denoisers and the value network.

Shapes: ``B`` batch, ``C`` channels, ``H`` horizon (time steps of the trajectory), ``E`` the
time-embedding width. Convolutions run over the horizon on ``[B, C, H]``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer position encoding of diffusion steps: ``[B] -> [B, dim]``.

    ``emb[b, i] = sin(t_b * w_i)`` for the first half and ``cos(t_b * w_i)`` for the second,
    with ``w_i = 10000^(-i / (dim/2 - 1))``.
    """
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, device=t.device, dtype=torch.float32) * (-math.log(10000.0) / max(half - 1, 1))
    )
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class TimeEmbedding(nn.Module):
    """Diffusion step -> vector: sinusoid(dim) -> Linear(dim, 4 dim) -> Mish -> Linear(4 dim, out).

    ``forward(t: [B] int or float) -> [B, out_dim]``.
    """

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.Mish(), nn.Linear(dim * 4, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class Conv1dBlock(nn.Module):
    """Conv1d(k, same padding) -> GroupNorm(n_groups) -> Mish, ``[B, Cin, H] -> [B, Cout, H]``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 5, n_groups: int = 8) -> None:
        super().__init__()
        if out_ch % n_groups:
            raise ValueError(
                f"GroupNorm needs channels divisible by n_groups={n_groups}, got {out_ch}; "
                "choose dim as a multiple of 8."
            )
        self.block = nn.Sequential(
            nn.Conv1d(in_ch, out_ch, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_ch),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ResidualTemporalBlock(nn.Module):
    """Janner et al.'s residual block: two Conv1dBlocks, the time embedding added after the
    first, a 1x1 conv on the skip path when channels change.

    ``forward(x: [B, Cin, H], emb: [B, E]) -> [B, Cout, H]``.
    """

    def __init__(self, in_ch: int, out_ch: int, embed_dim: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.block1 = Conv1dBlock(in_ch, out_ch, kernel_size)
        self.block2 = Conv1dBlock(out_ch, out_ch, kernel_size)
        self.time_mlp = nn.Sequential(nn.Mish(), nn.Linear(embed_dim, out_ch))
        self.residual = nn.Conv1d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        out = self.block1(x) + self.time_mlp(emb).unsqueeze(-1)
        return self.block2(out) + self.residual(x)


class Downsample1d(nn.Module):
    """Strided conv halving the horizon: ``[B, C, H] -> [B, C, H/2]``."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample1d(nn.Module):
    """Transposed conv doubling the horizon: ``[B, C, H] -> [B, C, 2H]``."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose1d(ch, ch, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def as_timestep_batch(t: torch.Tensor | int, batch: int, device: torch.device) -> torch.Tensor:
    """Broadcast a step ``t`` (int, 0-d or ``[B]`` tensor) to a ``[B]`` tensor on ``device``."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0:
        return t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a scalar or shape [{batch}], got shape {tuple(t.shape)}.")
    return t


def check_trajectory(x: torch.Tensor, transition_dim: int, who: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``[B, H, transition_dim]``."""
    if x.ndim != 3 or x.shape[-1] != transition_dim:
        raise ValueError(
            f"{who} expects x of shape [B, H, {transition_dim}], got {tuple(x.shape)}; "
            "pass a batch of trajectories (add a batch axis with x[None] for one)."
        )
