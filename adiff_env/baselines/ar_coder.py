"""The autoregressive baseline: a causal transformer of the diffusion coder's size and data.

Same tokenizer, same corpus, same training budget and the same agent
(:class:`~adiff_env.code.agent.CodePlanner`) as the diffusion coder, so a comparison
isolates the generation rule: left-to-right next-token sampling (with ``temperature``) versus
iterative unmasking. The sequence is ``prompt tokens, BOS, program tokens, EOS``; attention
is causal over the whole sequence; the loss is next-token cross-entropy on program tokens and
EOS. Sampling re-runs the network on the growing sequence each token (no KV cache: programs
are ~20-60 tokens and the model is small).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CausalTransformerConfig:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int | None = None
    max_prompt_len: int = 128
    max_len: int = 96
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CausalTransformer(nn.Module):
    """Decoder-only transformer. ``forward(tokens [B, T], pad [B, T] | None) -> logits [B, T, V]``."""

    def __init__(self, config: CausalTransformerConfig) -> None:
        super().__init__()
        if config.d_model % config.n_heads:
            raise ValueError(f"d_model {config.d_model} must be divisible by n_heads {config.n_heads}.")
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.d_model)
        self.pos = nn.Embedding(config.max_prompt_len + config.max_len + 2, config.d_model)
        layer = nn.TransformerEncoderLayer(config.d_model, config.n_heads, config.d_ff or 4 * config.d_model,
                                           config.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, tokens: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        t = tokens.shape[1]
        if t > self.pos.num_embeddings:
            raise ValueError(f"sequence of {t} tokens exceeds the model's {self.pos.num_embeddings} positions.")
        h = self.tok(tokens) + self.pos(torch.arange(t, device=tokens.device))
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tokens.device), diagonal=1)
        h = self.blocks(h, mask=causal, src_key_padding_mask=pad, is_causal=True)
        return self.head(self.norm(h))


def ar_batch(prompts: list[list[int]], programs: list[list[int]], bos: int, eos: int, pad_id: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``[prompt, BOS, program, EOS]`` rows: ``(tokens, pad, target)``; ``target``
    holds the next token at program positions and -100 elsewhere (ignored by the loss). Right
    padding keeps every row's positions as at sampling time, and the causal mask alone keeps
    real tokens from attending to the padding after them."""
    rows = [p + [bos] + q + [eos] for p, q in zip(prompts, programs, strict=True)]
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
    target = torch.full((len(rows), width), -100, dtype=torch.long)
    pad = torch.ones(len(rows), width, dtype=torch.bool)
    for i, (row, p) in enumerate(zip(rows, prompts, strict=True)):
        tokens[i, : len(row)] = torch.tensor(row)
        pad[i, : len(row)] = False
        start = len(p)  # the BOS position predicts the first program token
        target[i, start: len(row) - 1] = tokens[i, start + 1: len(row)]
    return tokens, pad, target


def ar_loss(model: CausalTransformer, tokens: torch.Tensor, pad: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits = model(tokens)  # causal: real positions never see the right padding
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


class ARCoder:
    """Model + tokenizer of a ``code-ar`` checkpoint; same :meth:`generate` as the diffusion coder."""

    kind = "code-ar"

    def __init__(self, model: CausalTransformer, tokenizer: Any, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, checkpoint: Any, tokenizer: Any, device: str = "cpu") -> ARCoder:
        """``tokenizer``: the checkpoint's program tokenizer, loaded by its domain (it gives
        ``encode_prompt``, ``decode_program`` and the special ids ``pad_id``, ``mask_id``,
        ``bos_id``, ``eos_id``, ``unk_id``)."""
        from adiff_env.registry import load_weights

        tok = tokenizer
        model = CausalTransformer(CausalTransformerConfig(**checkpoint.config["model"]))
        load_weights(model, checkpoint.tensors, source=str(checkpoint.path))
        return cls(model, tok, device)

    @torch.no_grad()
    def generate(self, prompt: str, n: int, act: Any, generator: torch.Generator | None = None
                 ) -> tuple[list[str], list[float]]:
        """``n`` programs sampled left to right (``act.temperature``; 0 = greedy) and their mean
        token log-probabilities. ``act.steps`` and the SMC options do not apply."""
        t = self.tokenizer
        BOS_ID, EOS_ID, MASK_ID, PAD_ID, UNK_ID = t.bos_id, t.eos_id, t.mask_id, t.pad_id, t.unk_id  # noqa: N806

        enc = self.tokenizer.encode_prompt(prompt)
        ids = enc.ids[: self.model.config.max_prompt_len] + [BOS_ID]
        seq = torch.tensor([ids] * n, dtype=torch.long, device=self.device)
        out = torch.full((n, 0), PAD_ID, dtype=torch.long, device=self.device)
        logp = torch.zeros(n, device=self.device)
        count = torch.zeros(n, device=self.device)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        banned = torch.tensor([PAD_ID, MASK_ID, BOS_ID, UNK_ID], device=self.device)
        for _ in range(self.model.config.max_len):
            logits = self.model(torch.cat([seq, out], dim=1))[:, -1].float()
            logits[:, banned] = -torch.inf
            log_probs = torch.log_softmax(logits, dim=-1)
            if act.temperature == 0:
                nxt = log_probs.argmax(dim=-1)
            else:
                probs = torch.softmax(logits / act.temperature, dim=-1)
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(self.device)
            nxt = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)
            logp += torch.where(done, 0.0, log_probs.gather(1, nxt[:, None]).squeeze(1))
            count += (~done).float()
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt == EOS_ID
            if bool(done.all()):
                break
        programs = []
        for row in out.tolist():
            body = row[: row.index(EOS_ID)] if EOS_ID in row else row
            programs.append(self.tokenizer.decode_program([t for t in body if t != PAD_ID], enc))
        return programs, (logp / count.clamp_min(1)).tolist()
