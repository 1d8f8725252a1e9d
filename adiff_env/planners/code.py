"""The code planner: masked discrete diffusion writes programs; an agent picks which to submit.

Two layers:

- :class:`DiffusionCoder` turns a prompt into N candidate programs. The prompt is encoded by
  the checkpoint's :class:`~adiff_env.planners.code_tokenizer.CodeTokenizer` (numbers and
  unknown names become pointer tokens, so the model copies ``K`` from the prompt instead of
  guessing it); a length head proposes each particle's program length (no padding slots);
  the :class:`~adiff_env.diffusion.discrete.MaskedSampler` unmasks over ``steps`` steps.
  Sequential Monte Carlo on cheap potentials: every ``smc_every`` steps each particle's
  predicted completion (the argmax fill of its masked tokens) is decoded; a completion that
  does not parse, or does not define the entry point, costs ``smc_penalty`` in log-weight,
  and when the effective sample size drops below N/2 the particles are resampled
  (systematic), so compute moves to partial programs that can still become valid code.
- :class:`CodePlanner` is the agent (SB3's ``predict`` protocol; the action is the program
  text). Each attempt samples ``samples`` candidates and ranks them with
  :mod:`adiff_env.planners.code_select`: static checks, behaviour votes on probe inputs run in
  the planner's own sandbox, and -- after a failed attempt -- the failed tests the env's
  feedback shows. A candidate is never submitted twice in an episode.

``coder:NAME`` (agent kind) loads a ``code-planner`` checkpoint (this class) or a ``code-ar``
one (the autoregressive baseline, :mod:`adiff_env.planners.code_ar`) behind the same agent.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from adiff_env.errors import UnknownNameError
from adiff_env.planners import code_select as sel

STRATEGIES = ("confidence", "random")
DEFAULT_MODEL = "coder-default"  # the shipped checkpoint, planners/pretrained/coder-default/


@dataclass(frozen=True)
class CoderActConfig:
    """How the agent samples and chooses. ``samples``: candidates per sampling round;
    ``steps``: denoising steps; ``strategy``: which masked positions to reveal first;
    ``temperature``: token sampling (0 = argmax); ``remask``: ReMDM re-masking share;
    ``smc_every``/``smc_penalty``: SMC resampling period (0: off) and log-weight penalty per
    failed potential; ``length_temperature``: sampling of program lengths from the length
    head; ``max_rounds``: sampling rounds per attempt when every candidate was tried already;
    ``sandbox``: where the planner runs probes and revealed tests: ``"env"`` (the sandbox of
    the env it acts in -- the same isolation as the env's own tests -- or a process sandbox
    when it acts without an env), ``"process"``, ``"docker"``, or ``None`` (static checks only)."""

    samples: int = 16
    steps: int = 16
    strategy: str = "confidence"
    temperature: float = 0.7
    remask: float = 0.0
    smc_every: int = 4
    smc_penalty: float = 3.0
    length_temperature: float = 1.0
    max_rounds: int = 3
    sandbox: str | None = "env"

    def __post_init__(self) -> None:
        for key in ("samples", "steps", "max_rounds"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"CoderActConfig.{key} must be an int >= 1, got {value!r}.")
        if self.strategy not in STRATEGIES:
            raise UnknownNameError("unmasking strategy", self.strategy, STRATEGIES)
        if self.temperature < 0 or self.length_temperature <= 0 or not 0 <= self.remask < 1:
            raise ValueError(f"need temperature >= 0, length_temperature > 0 and 0 <= remask < 1; got "
                             f"{self.temperature}, {self.length_temperature}, {self.remask}.")
        if self.smc_every < 0 or self.smc_penalty < 0:
            raise ValueError(f"smc_every and smc_penalty must be >= 0, got {self.smc_every}, {self.smc_penalty}.")
        if self.sandbox not in (None, "env", "process", "docker"):
            raise ValueError(f"sandbox must be 'env', 'process', 'docker' or None, got {self.sandbox!r}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoderActConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown coder acting options {unknown}; known: {sorted(known)}.")
        return cls(**data)


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
        from adiff_env.diffusion.discrete import MaskedTransformer, MaskedTransformerConfig
        from adiff_env.planners.code_tokenizer import CodeTokenizer
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
        from adiff_env.diffusion.discrete import (
            MaskedSampler,
            UnmaskConfig,
            effective_sample_size,
            systematic_resample,
        )
        from adiff_env.planners.code_tokenizer import BOS_ID, EOS_ID, MASK_ID, PAD_ID, UNK_ID

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
    """A :class:`DiffusionCoder` or :class:`~adiff_env.planners.code_ar.ARCoder` from a registry spec."""
    from adiff_env.registry import CheckpointError, ModelRegistry

    checkpoint = (registry or ModelRegistry()).load(spec)
    if checkpoint.metadata.kind == DiffusionCoder.kind:
        return DiffusionCoder.from_checkpoint(checkpoint, device), checkpoint
    if checkpoint.metadata.kind == "code-ar":
        from adiff_env.planners.code_ar import ARCoder

        return ARCoder.from_checkpoint(checkpoint, device), checkpoint
    raise CheckpointError(f"checkpoint {checkpoint.path} holds a {checkpoint.metadata.kind!r} model; coder:NAME "
                          "needs a 'code-planner' or 'code-ar' checkpoint (adiff code train).")


class CodePlanner:
    """The code agent (module doc). ``coder``: a :class:`DiffusionCoder` or ``ARCoder``."""

    def __init__(self, coder: Any, act: CoderActConfig | None = None, seed: int = 0, limits: Any = None,
                 sandbox: Any = None) -> None:
        self.coder, self.act, self.seed = coder, act or CoderActConfig(), int(seed)
        self.limits = limits
        self._sandbox, self._owns_sandbox = sandbox, sandbox is None
        self._rng = np.random.default_rng(seed)
        self.sample_ms: list[float] = []

    @classmethod
    def from_spec(cls, spec: str, env: Any = None, device: str = "cpu", seed: int = 0, **act: Any) -> CodePlanner:
        """Load ``spec`` (``NAME``, ``NAME@vK``, a path; ``default`` = the shipped
        ``coder-default``); ``act`` overrides the checkpoint's acting options."""
        coder, checkpoint = load_coder(DEFAULT_MODEL if spec == "default" else spec, device)
        base = dict(checkpoint.config.get("act", {}))
        base.update(act)
        config = CoderActConfig.from_dict(base)
        shared = getattr(getattr(env, "unwrapped", None), "sandbox", None) if config.sandbox == "env" else None
        limits = getattr(getattr(env, "unwrapped", None), "limits", None)
        return cls(coder, config, seed=seed, limits=limits, sandbox=shared)

    @property
    def sandbox(self) -> Any:
        """The sandbox for probes and revealed tests (None: static checks only)."""
        if self._sandbox is None and self.act.sandbox is not None:
            from adiff_env.sandbox import make_sandbox
            from adiff_env.sandbox.base import Limits

            self.limits = self.limits or Limits(wall_s=5.0, test_s=1.0)
            kind = "process" if self.act.sandbox == "env" else self.act.sandbox
            self._sandbox, self._owns_sandbox = make_sandbox(kind, limits=self.limits, pool_size=1), True
        return self._sandbox

    def _generator(self, prompt: str, attempt: int, deterministic: bool) -> torch.Generator:
        seed = zlib.crc32(f"{self.seed}:{attempt}:{prompt}".encode()) if deterministic else int(self._rng.integers(2**31))
        return torch.Generator().manual_seed(seed)

    def candidates(self, prompt: str, revealed: list[str] = (), pool: list[tuple[str, float]] | None = None,
                   submitted: set[str] = frozenset(), deterministic: bool = True) -> tuple[list[sel.Candidate], list]:
        """Sample until an untried candidate exists (at most ``max_rounds`` rounds); ranked best-first."""
        pool = list(pool or [])
        entry = sel.entry_point_of(prompt)
        ranked: list[sel.Candidate] = []
        for r in range(self.act.max_rounds):
            tic = time.perf_counter()
            programs, scores = self.coder.generate(prompt, self.act.samples, self.act,
                                                   self._generator(prompt, len(submitted) * 10 + r, deterministic))
            self.sample_ms.append(1000 * (time.perf_counter() - tic))
            pool += list(zip(programs, scores, strict=True))
            ranked = sel.rank_candidates(sel.merge_candidates([p for p, _ in pool], [s for _, s in pool], entry),
                                         self.sandbox, prompt, revealed, self.limits)
            if any(c.key not in submitted for c in ranked):
                break
        return ranked, pool

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
                ) -> tuple[str, dict[str, Any]]:
        """The program to submit for ``observation`` (the CodeTests env's dict, or a prompt string)."""
        obs = observation if isinstance(observation, dict) else {"prompt": str(observation), "feedback": ""}
        prompt, feedback = str(obs["prompt"]), str(obs.get("feedback", ""))
        new = state is None or bool(np.any(episode_start)) or state.get("prompt") != prompt
        if new:
            state = {"prompt": prompt, "submitted": [], "revealed": [], "pool": []}
        for test in sel.failed_tests_from_feedback(feedback):
            if test not in state["revealed"]:
                state["revealed"].append(test)
        ranked, state["pool"] = self.candidates(prompt, state["revealed"], state["pool"], set(state["submitted"]),
                                                deterministic)
        choice = next((c for c in ranked if c.key not in state["submitted"]), ranked[0])
        state["submitted"].append(choice.key)
        return choice.program, state

    def eval_stats(self) -> dict[str, Any]:
        ms = self.sample_ms
        return {"sample_ms_median": float(np.median(ms)) if ms else None, "samples": self.act.samples,
                "steps": self.act.steps, "sampling_rounds": len(ms)}

    def close(self) -> None:
        """Close the planner's own sandbox (a sandbox shared with an env stays open)."""
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
        self._sandbox = None
