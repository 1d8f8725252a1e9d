"""Bidirectional transformer denoiser for masked discrete diffusion, conditioned on a prompt.

The prompt is an unmasked prefix: ``[prompt (P) | x_t (L)]`` is one sequence under full
bidirectional self-attention, so every target position can attend to (and copy from) every
prompt token in every layer, which cross-attention would only allow through a separate
encoder. Tokens get a shared embedding plus a learned position embedding per segment
(prompt positions and target positions are separate tables) plus a segment embedding.
There is no time embedding: as MDLM shows, the number of mask tokens in ``x_t`` carries ``t``.

Blocks are pre-LN (``h += Attn(LN(h)); h += MLP(LN(h))``) with
:func:`torch.nn.functional.scaled_dot_product_attention`; at d_model 128 on one CPU thread
this was faster than ``nn.TransformerEncoderLayer(norm_first=True)`` (see
``benchmarks/bench_discrete_sampler.py --compare-layers``). Pad positions are ignored as keys.
The output head is tied to the token embedding by default (``tie_head=True``): with a small
vocabulary it saves ``V * d_model`` parameters and makes predicting a prompt token the same
dot product as recognising it.

Shapes: ``B`` batch, ``P`` prompt length, ``L`` target length, ``V`` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class MaskedTransformerConfig:
    """Constructor arguments of :class:`MaskedTransformer`.

    ``vocab_size`` V (including the mask and pad ids), ``d_model`` width (divisible by
    ``n_heads``), ``d_ff`` MLP width (None = ``4 * d_model``), ``max_prompt_len`` and ``max_len``
    the largest P and L, ``tie_head`` ties the output projection to the token embedding.
    """

    vocab_size: int
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int | None = None
    max_prompt_len: int = 128
    max_len: int = 96
    dropout: float = 0.0
    tie_head: bool = True

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2 (tokens + mask), got {self.vocab_size}.")
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(
                f"d_model {self.d_model} must be a positive multiple of n_heads {self.n_heads}; "
                "e.g. d_model=128, n_heads=4."
            )
        for name in ("n_layers", "max_prompt_len", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.d_ff is not None and self.d_ff < 1:
            raise ValueError(f"d_ff must be >= 1 or None (4 * d_model), got {self.d_ff}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")


class _Block(nn.Module):
    """Pre-LN transformer block: ``[B, S, D] -> [B, S, D]``; ``keep`` is ``[B, 1, 1, S]`` (True =
    attend to that key) or None (attend to all)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        b, s, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(b, s, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(b, s, d)))
        return h + self.drop(self.mlp(self.ln2(h)))


def _check_ids(name: str, ids: torch.Tensor, max_len: int, vocab: int) -> None:
    if ids.ndim != 2 or ids.dtype != torch.long:
        raise ValueError(f"{name} must be a Long tensor [B, N], got {ids.dtype} {tuple(ids.shape)}.")
    if ids.shape[1] > max_len:
        raise ValueError(
            f"{name} has length {ids.shape[1]} > the model's maximum {max_len}; "
            "truncate it or build the model with a larger limit."
        )


def _check_pad(name: str, pad: torch.Tensor | None, ids: torch.Tensor) -> None:
    if pad is not None and (pad.dtype != torch.bool or pad.shape != ids.shape):
        raise ValueError(
            f"{name} must be a Bool tensor of shape {tuple(ids.shape)}, got {pad.dtype} {tuple(pad.shape)}."
        )


class MaskedTransformer(nn.Module):
    """Denoiser ``model(x_t, prompt, x_pad, prompt_pad) -> logits [B, L, V]``.

    ``x_pad`` / ``prompt_pad`` are True at padding (ignored as attention keys; their logits are
    meaningless). :meth:`length_logits` predicts the target length from the prompt alone.
    """

    def __init__(self, config: MaskedTransformerConfig) -> None:
        super().__init__()
        self.config = c = config
        d_ff = c.d_ff if c.d_ff is not None else 4 * c.d_model
        self.tok = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_prompt = nn.Embedding(c.max_prompt_len, c.d_model)
        self.pos_x = nn.Embedding(c.max_len, c.d_model)
        self.segment = nn.Embedding(2, c.d_model)
        self.blocks = nn.ModuleList(_Block(c.d_model, c.n_heads, d_ff, c.dropout) for _ in range(c.n_layers))
        self.ln_f = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.length_head = nn.Linear(c.d_model, c.max_len + 1)
        self.drop = nn.Dropout(c.dropout)
        for emb in (self.tok, self.pos_prompt, self.pos_x, self.segment):
            nn.init.normal_(emb.weight, std=0.02)
        if c.tie_head:
            self.head.weight = self.tok.weight

    def _embed_prompt(self, prompt: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(prompt.shape[1], device=prompt.device)
        return self.tok(prompt) + self.pos_prompt(pos) + self.segment.weight[0]

    def _encode(self, h: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        keep = None
        if pad is not None and bool(pad.any()):
            valid = ~pad
            valid = valid | ~valid.any(dim=1, keepdim=True)  # an all-pad row attends to all (no NaN)
            keep = valid[:, None, None, :]
        h = self.drop(h)
        for block in self.blocks:
            h = block(h, keep)
        return self.ln_f(h)

    def forward(
        self,
        x_t: torch.Tensor,
        prompt: torch.Tensor,
        x_pad: torch.Tensor | None = None,
        prompt_pad: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x_t: Long[B, L]``, ``prompt: Long[B, P]`` -> logits ``[B, L, V]``."""
        c = self.config
        _check_ids("x_t", x_t, c.max_len, c.vocab_size)
        _check_ids("prompt", prompt, c.max_prompt_len, c.vocab_size)
        if prompt.shape[0] != x_t.shape[0]:
            raise ValueError(f"prompt batch {prompt.shape[0]} != x_t batch {x_t.shape[0]}.")
        _check_pad("x_pad", x_pad, x_t)
        _check_pad("prompt_pad", prompt_pad, prompt)
        pos = torch.arange(x_t.shape[1], device=x_t.device)
        hx = self.tok(x_t) + self.pos_x(pos) + self.segment.weight[1]
        h = torch.cat([self._embed_prompt(prompt), hx], dim=1)
        pad = None
        if x_pad is not None or prompt_pad is not None:
            pp = prompt_pad if prompt_pad is not None else torch.zeros_like(prompt, dtype=torch.bool)
            xp = x_pad if x_pad is not None else torch.zeros_like(x_t, dtype=torch.bool)
            pad = torch.cat([pp, xp], dim=1)
        h = self._encode(h, pad)
        return self.head(h[:, prompt.shape[1]:])

    def length_logits(self, prompt: torch.Tensor, prompt_pad: torch.Tensor | None = None) -> torch.Tensor:
        """Target-length head: ``prompt: Long[B, P] -> [B, max_len + 1]`` (logits over 0..max_len).

        The encoder runs on the prompt alone, the output is mean-pooled over non-pad positions.
        """
        c = self.config
        _check_ids("prompt", prompt, c.max_prompt_len, c.vocab_size)
        _check_pad("prompt_pad", prompt_pad, prompt)
        h = self._encode(self._embed_prompt(prompt), prompt_pad)
        if prompt_pad is None:
            pooled = h.mean(dim=1)
        else:
            w = (~prompt_pad).to(h.dtype).unsqueeze(-1)
            pooled = (h * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
        return self.length_head(pooled)
