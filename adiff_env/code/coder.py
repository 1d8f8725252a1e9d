"""The masked-diffusion coder: a prompt in, N candidate programs out.

- :class:`DiffusionCoder` turns a prompt into N candidate programs. The prompt is encoded by
  the checkpoint's :class:`~adiff_env.code.tokenizer.CodeTokenizer` (numbers and
  unknown names become pointer tokens, so the model copies ``K`` from the prompt instead of
  guessing it); a length head proposes each particle's program length (no padding slots);
  the :class:`~adiff_env.diffusion.discrete.MaskedSampler` unmasks over ``steps`` steps.
  Sequential Monte Carlo on cheap potentials: every ``smc_every`` steps each particle's
  predicted completion (the argmax fill of its masked tokens) is decoded; a completion that
  does not parse, or does not define the entry point, costs ``smc_penalty`` in log-weight,
  and when the effective sample size drops below N/2 the particles are resampled
  (systematic), so compute moves to partial programs that can still become valid code.

The agent that submits programs is :class:`~adiff_env.code.agent.CodePlanner`; ``coder:NAME``
(agent kind) loads a ``code-planner`` checkpoint (this class) or a ``code-ar`` one (the
autoregressive baseline, :mod:`adiff_env.baselines.ar_coder`) behind it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from adiff_env.code import select as sel
from adiff_env.code.config import DEFAULT_MODEL, STRATEGIES, CoderActConfig  # noqa: F401  (re-exported)


def _mean_logp(confidence: torch.Tensor, pad: torch.Tensor) -> list[float]:
    logp = torch.log(confidence.clamp_min(1e-9)).masked_fill(pad, 0.0)
    counts = (~pad).sum(dim=1).clamp_min(1)
    return (logp.sum(dim=1) / counts).tolist()


class DiffusionCoder:
    """Model + tokenizer of a ``code-planner`` checkpoint; :meth:`generate` samples programs."""

    kind = "code-planner"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)

    @classmethod
    def from_checkpoint(cls, checkpoint: Any, device: str = "cpu") -> DiffusionCoder:
        from adiff_env.code.tokenizer import CodeTokenizer
        from adiff_env.diffusion.discrete import MaskedTransformer, MaskedTransformerConfig
        from adiff_env.registry import load_weights

        tok = CodeTokenizer.load(checkpoint.path / "tokenizer.json")
        model = MaskedTransformer(MaskedTransformerConfig(**checkpoint.config["model"]))
        load_weights(model, checkpoint.tensors, source=str(checkpoint.path))
        return cls(model, tok, device)

    def _prompt_tensor(self, prompt: str, n: int) -> tuple[Any, torch.Tensor]:
        enc = self.tokenizer.encode_prompt(prompt)
        ids = enc.ids[: self.model.config.max_prompt_len]
        return enc, torch.tensor([ids] * n, dtype=torch.long, device=self.device)

    @torch.no_grad()
    def generate(self, prompt: str, n: int, act: CoderActConfig, generator: torch.Generator | None = None,
                 on_step: Any = None) -> tuple[list[str], list[float]]:
        """``n`` programs for ``prompt`` and their mean token log-probabilities. ``on_step(step,
        total)``, if given, is called after each denoising step (the service streams it)."""
        from adiff_env.code.tokenizer import BOS_ID, EOS_ID, MASK_ID, PAD_ID, UNK_ID
        from adiff_env.diffusion.discrete import (
            MaskedSampler,
            UnmaskConfig,
            effective_sample_size,
            systematic_resample,
        )

        enc, prompts = self._prompt_tensor(prompt, n)
        entry = sel.entry_point_of(prompt)
        logits = self.model.length_logits(prompts[:1])[0].float()
        logits[0] = -torch.inf
        probs = torch.softmax(logits / act.length_temperature, dim=-1)
        lengths = torch.multinomial(probs.cpu(), n, replacement=True, generator=generator).to(self.device)
        sampler = MaskedSampler(self.model, MASK_ID, UnmaskConfig(
            steps=act.steps, strategy=act.strategy, temperature=act.temperature, remask=act.remask,
            forbidden=(PAD_ID, MASK_ID, BOS_ID, EOS_ID, UNK_ID)))
        state = sampler.init(prompts, None, lengths)
        while not sampler.done(state):
            state = sampler.step(state, prompts, None, generator=generator)
            if on_step is not None:
                on_step(int(state.step), act.steps)
            if act.smc_every and state.step % act.smc_every == 0 and not sampler.done(state) and n > 1:
                guess = sampler.predict_x0(state, prompts, None)
                logw = torch.tensor([self._potential(row, pad, enc, entry, act.smc_penalty)
                                     for row, pad in zip(guess.tolist(), state.pad.tolist(), strict=True)])
                if effective_sample_size(logw) < n / 2:
                    idx = systematic_resample(logw, generator=generator).to(self.device)
                    state = dataclasses.replace(state, x=state.x[idx], pad=state.pad[idx],
                                                confidence=state.confidence[idx])
        programs = [self.decode(row, pad, enc) for row, pad in zip(state.x.tolist(), state.pad.tolist(), strict=True)]
        return programs, _mean_logp(state.confidence, state.pad)

    def decode(self, row: list[int], pad: list[bool], enc: Any) -> str:
        return self.tokenizer.decode_program([t for t, p in zip(row, pad, strict=True) if not p], enc)

    def _potential(self, row: list[int], pad: list[bool], enc: Any, entry: str | None, penalty: float) -> float:
        program = self.decode(row, pad, enc)
        if sel.normalized_source(program) is None:
            return -2 * penalty
        return 0.0 if sel.static_check(program, entry) else -penalty


def load_coder(spec: str, device: str = "cpu", registry: Any = None) -> Any:
    """A :class:`DiffusionCoder` or :class:`~adiff_env.baselines.ar_coder.ARCoder` from a registry spec."""
    from adiff_env.registry import CheckpointError, ModelRegistry

    checkpoint = (registry or ModelRegistry()).load(spec)
    if checkpoint.metadata.kind == DiffusionCoder.kind:
        return DiffusionCoder.from_checkpoint(checkpoint, device), checkpoint
    if checkpoint.metadata.kind == "code-ar":
        from adiff_env.baselines.ar_coder import ARCoder
        from adiff_env.code.tokenizer import CodeTokenizer

        tokenizer = CodeTokenizer.load(checkpoint.path / "tokenizer.json")
        return ARCoder.from_checkpoint(checkpoint, tokenizer, device), checkpoint
    raise CheckpointError(f"checkpoint {checkpoint.path} holds a {checkpoint.metadata.kind!r} model; coder:NAME "
                          "needs a 'code-planner' or 'code-ar' checkpoint (adiff code train).")
