"""Transformer denoiser over the time steps of a trajectory, DiT-style (Peebles & Xie 2023).

Each of the ``H`` time steps is a token: ``Linear(D, d_model)`` plus a sinusoidal position
code. The diffusion step (and an optional global condition) gives a vector ``c``; every block
modulates its LayerNorms with ``(shift, scale, gate) = Linear(SiLU(c))`` (adaLN-Zero: the
modulation is zero-initialised, so each block starts as the identity):

    h = h + gate_a * Attn(LN(h) * (1 + scale_a) + shift_a)
    h = h + gate_m * MLP(LN(h) * (1 + scale_m) + shift_m)

Attention is bidirectional over the horizon; any ``H`` works (no learned positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from adiff_env.diffusion.layers import (
    TimeEmbedding,
    as_timestep_batch,
    check_trajectory,
    sinusoidal_embedding,
)


@dataclass(frozen=True)
class TransformerConfig:
    """Constructor arguments of :class:`TransformerDenoiser` (saved as JSON with the weights).

    ``transition_dim`` D, ``d_model`` token width (divisible by ``n_heads``), ``n_layers``
    blocks, ``mlp_ratio`` hidden width of the MLP over ``d_model``, ``cond_dim`` width of an
    optional global condition vector (0 = none).
    """

    transition_dim: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    cond_dim: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}; "
                "e.g. d_model=128, n_heads=4."
            )
        if self.transition_dim < 1 or self.n_layers < 1 or self.cond_dim < 0:
            raise ValueError(
                f"TransformerConfig needs transition_dim >= 1, n_layers >= 1, cond_dim >= 0; got "
                f"{self.transition_dim}, {self.n_layers}, {self.cond_dim}."
            )


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class DiTBlock(nn.Module):
    """Self-attention + MLP with adaLN-Zero modulation. ``[B, H, d], [B, d] -> [B, H, d]``."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        hidden = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d_model)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 6 * d_model))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.ada(c).chunk(6, dim=-1)
        b, n, d = h.shape
        qkv = self.qkv(_modulate(self.norm1(h), shift_a, scale_a))
        q, k, v = qkv.view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        h = h + gate_a[:, None, :] * self.proj(att.transpose(1, 2).reshape(b, n, d))
        return h + gate_m[:, None, :] * self.mlp(_modulate(self.norm2(h), shift_m, scale_m))


class TransformerDenoiser(nn.Module):
    """``forward(x_t: [B, H, D], t: [B] or scalar, cond: [B, cond_dim] | None) -> [B, H, D]``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.inp = nn.Linear(config.transition_dim, d)
        self.time_embed = TimeEmbedding(d, d)
        self.cond_proj = nn.Linear(config.cond_dim, d) if config.cond_dim else None
        self.blocks = nn.ModuleList(
            DiTBlock(d, config.n_heads, config.mlp_ratio, config.dropout)
            for _ in range(config.n_layers)
        )
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, config.transition_dim)
        for layer in (self.final_ada[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_trajectory(x_t, self.config.transition_dim, "TransformerDenoiser")
        b, n, _ = x_t.shape
        c = self.time_embed(as_timestep_batch(t, b, x_t.device))
        if cond is not None and self.cond_proj is None:
            raise ValueError("this denoiser was built with cond_dim=0 and takes cond=None.")
        if self.cond_proj is not None and cond is not None:
            c = c + self.cond_proj(cond)
        pos = sinusoidal_embedding(torch.arange(n, device=x_t.device), self.config.d_model)
        h = self.inp(x_t) + pos[None].to(x_t.dtype)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        return self.out(_modulate(self.final_norm(h), shift, scale))
