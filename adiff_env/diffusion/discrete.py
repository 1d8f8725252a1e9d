"""Masked (absorbing-state) discrete diffusion, after MDLM (Sahoo et al. 2024), LLaDA (Nie et al.
2025) and ReMDM (Wang et al. 2025). Domain-agnostic: token ids in, token ids out.

Forward process: each clean token stays itself with probability ``alpha(t)`` and becomes the
mask id otherwise, independently, ``t`` in [0, 1] (``alpha(0) = 1``, ``alpha(1) = 0``).
Training minimises the MDLM continuous-time bound, a cross-entropy on the masked positions
weighted by ``-alpha'(t) / (1 - alpha(t))`` (:func:`masked_diffusion_loss`). Sampling
(:class:`MaskedSampler`) starts from all-mask rows and reveals positions over ``steps`` steps,
most-confident first (LLaDA) or at random, optionally re-masking low-confidence decoded tokens
(ReMDM). :func:`systematic_resample` and :func:`effective_sample_size` serve sequential Monte
Carlo over partial samples. The denoiser lives in :mod:`.discrete_model`.

Shapes: ``B`` batch, ``L`` target length, ``P`` prompt length, ``V`` vocabulary, ``N`` particles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from adiff_env.diffusion.discrete_model import MaskedTransformer, MaskedTransformerConfig
from adiff_env.errors import UnknownNameError

#: Smallest ``t`` used in loss weights: ``1/t`` (linear) and ``~2/t`` (cosine) blow up at 0, and a
#: row with ``t ~ 0`` has (almost) nothing masked, so clamping changes the bound negligibly.
T_MIN = 1e-3

__all__ = [
    "T_MIN", "MaskSchedule", "MaskedSampler", "MaskedState", "MaskedTransformer",
    "MaskedTransformerConfig", "UnmaskConfig", "effective_sample_size", "make_mask_schedule",
    "mask_tokens", "masked_diffusion_loss", "systematic_resample",
]


class MaskSchedule:
    """``alpha(t)``: probability a token is still clean at time ``t``; ``kind`` is its name."""

    kind = "base"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def alpha_prime(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """MDLM weight ``-alpha'(t) / (1 - alpha(t))`` with ``t`` clamped to ``>= T_MIN``."""
        t = t.to(torch.float32).clamp(T_MIN, 1.0)
        return -self.alpha_prime(t) / (1.0 - self.alpha(t))


class LinearMaskSchedule(MaskSchedule):
    """``alpha(t) = 1 - t``; loss weight ``1 / t``."""

    kind = "linear"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 1.0 - t.to(torch.float32)

    def alpha_prime(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.ones_like(t, dtype=torch.float32)


class CosineMaskSchedule(MaskSchedule):
    """``alpha(t) = cos(pi/2 t)``: few masks early, many late; loss weight ``~2/t`` near 0."""

    kind = "cosine"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cos(0.5 * math.pi * t.to(torch.float32))

    def alpha_prime(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t.to(torch.float32))


_SCHEDULES = {"linear": LinearMaskSchedule, "cosine": CosineMaskSchedule}


def make_mask_schedule(kind: str) -> MaskSchedule:
    """``"linear"`` (``alpha = 1 - t``) or ``"cosine"`` (``alpha = cos(pi/2 t)``)."""
    if kind not in _SCHEDULES:
        raise UnknownNameError("mask schedule", str(kind), _SCHEDULES)
    return _SCHEDULES[kind]()


def _check_t(t: torch.Tensor, batch: int) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=torch.float32)
    if t.shape != (batch,):
        raise ValueError(f"t must have shape [B]=({batch},), got {tuple(t.shape)}.")
    if bool(((t < 0) | (t > 1) | t.isnan()).any()):
        raise ValueError(f"t must lie in [0, 1], got {t.tolist()}.")
    return t


def mask_tokens(
    x0: torch.Tensor,
    t: torch.Tensor,
    schedule: MaskSchedule,
    mask_id: int,
    valid: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward process: ``x0: Long[B, L]``, ``t: [B]`` -> ``(x_t, masked)``, both ``[B, L]``.

    Each valid position is masked independently with probability ``1 - alpha(t_b)``; a row with
    a valid position but nothing masked gets one random valid position masked (so every row
    contributes to the loss). Invalid positions (``valid`` False, e.g. pad) are never masked.
    """
    if x0.ndim != 2:
        raise ValueError(f"x0 must be [B, L], got shape {tuple(x0.shape)}.")
    t = _check_t(t, x0.shape[0]).to(x0.device)
    if valid is None:
        valid = torch.ones_like(x0, dtype=torch.bool)
    elif valid.shape != x0.shape or valid.dtype != torch.bool:
        raise ValueError(f"valid must be Bool {tuple(x0.shape)}, got {valid.dtype} {tuple(valid.shape)}.")
    u = torch.rand(x0.shape, generator=generator, device=x0.device)
    masked = (u < (1.0 - schedule.alpha(t))[:, None]) & valid
    empty = ~masked.any(dim=1) & valid.any(dim=1)
    if bool(empty.any()):
        pick = torch.where(valid, u, torch.full_like(u, -1.0)).argmax(dim=1)
        masked[empty, pick[empty]] = True
    return torch.where(masked, torch.full_like(x0, mask_id), x0), masked


def masked_diffusion_loss(
    logits: torch.Tensor,
    x0: torch.Tensor,
    masked: torch.Tensor,
    t: torch.Tensor,
    schedule: MaskSchedule,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """MDLM bound: ``sum_b w(t_b) * sum_{masked} CE(logits, x0) / #valid tokens`` (scalar).

    ``w`` is :meth:`MaskSchedule.loss_weight` (``t`` clamped to ``T_MIN`` so it stays finite).
    Unmasked positions contribute nothing (their targets are known); ``valid`` (default: all)
    sets the normaliser.
    """
    if logits.ndim != 3 or logits.shape[:2] != x0.shape:
        raise ValueError(
            f"logits must be [B, L, V] with [B, L]={tuple(x0.shape)}, got {tuple(logits.shape)}."
        )
    if masked.shape != x0.shape:
        raise ValueError(f"masked must have shape {tuple(x0.shape)}, got {tuple(masked.shape)}.")
    t = _check_t(t, x0.shape[0]).to(logits.device)
    ce = F.cross_entropy(logits.transpose(1, 2).float(), x0, reduction="none")  # [B, L]
    per_row = (ce * masked).sum(dim=1) * schedule.loss_weight(t)
    n_valid = x0.numel() if valid is None else int(valid.sum())
    return per_row.sum() / max(n_valid, 1)


@dataclass(frozen=True)
class UnmaskConfig:
    """How :class:`MaskedSampler` unmasks.

    ``steps`` denoising steps; ``strategy`` ``"confidence"`` (reveal the most confident
    predictions, LLaDA's low-confidence remasking) or ``"random"``; ``temperature`` 0 = argmax,
    else sample from ``softmax(logits / T)``; ``remask`` ReMDM share of decoded tokens re-masked
    (lowest confidence first) each step except the last; ``forbidden`` ids never sampled (the
    mask id always is); ``schedule`` the mask schedule whose ``1 - alpha`` sets how many stay
    masked after each step.
    """

    steps: int = 16
    strategy: str = "confidence"
    temperature: float = 1.0
    remask: float = 0.0
    forbidden: tuple[int, ...] = ()
    schedule: str = "linear"

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {self.steps!r}.")
        if self.strategy not in ("confidence", "random"):
            raise UnknownNameError("unmask strategy", str(self.strategy), ("confidence", "random"))
        if not self.temperature >= 0.0:
            raise ValueError(f"temperature must be >= 0 (0 = argmax), got {self.temperature!r}.")
        if not 0.0 <= self.remask < 1.0:
            raise ValueError(f"remask must be in [0, 1), got {self.remask!r}.")
        if self.schedule not in _SCHEDULES:
            raise UnknownNameError("mask schedule", str(self.schedule), _SCHEDULES)


@dataclass
class MaskedState:
    """Sampler state: ``x`` Long[B, L] (mask id where undecided, pad id beyond each row's
    length), ``pad`` Bool[B, L], ``step`` steps taken, ``confidence`` [B, L] probability of each
    decoded token when it was decoded (0 at masks, inf at pad)."""

    x: torch.Tensor
    pad: torch.Tensor
    step: int
    confidence: torch.Tensor


def _select(scores: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Bool[B, L]: the ``k[b]`` highest-scoring positions of each row (-inf never chosen)."""
    order = scores.argsort(dim=1, descending=True)
    ranks = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
    chosen = torch.zeros_like(scores, dtype=torch.bool)
    chosen.scatter_(1, order, ranks < k[:, None])
    return chosen & (scores > -math.inf)


class MaskedSampler:
    """Iterative unmasking with ``model(x_t, prompt, x_pad, prompt_pad) -> [B, L, V]``.

    Step ``s`` (0-based) of ``S`` leaves ``ceil(n_b * (1 - alpha(1 - (s+1)/S)))`` positions
    masked in a row with ``n_b`` positions (at least one is revealed per step while any is
    masked), so after ``S`` steps nothing is masked and with ``S >= L`` each step reveals one.
    """

    def __init__(self, model: torch.nn.Module, mask_id: int, config: UnmaskConfig | None = None,
                 pad_id: int = 0) -> None:
        self.model = model
        self.mask_id = int(mask_id)
        self.pad_id = int(pad_id)
        self.config = config if config is not None else UnmaskConfig()
        self.schedule = make_mask_schedule(self.config.schedule)
        self.forbidden = tuple(sorted({self.mask_id, *map(int, self.config.forbidden)}))

    def init(self, prompt: torch.Tensor, prompt_pad: torch.Tensor | None, lengths: torch.Tensor,
             width: int | None = None) -> MaskedState:
        """All-mask rows of ``lengths[b]`` tokens, pad beyond; ``L = width or max(lengths)``."""
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=prompt.device)
        if lengths.shape != (prompt.shape[0],):
            raise ValueError(f"lengths must have shape [B]=({prompt.shape[0]},), got {tuple(lengths.shape)}.")
        if bool((lengths < 1).any()):
            raise ValueError(f"lengths must be >= 1, got {lengths.tolist()}.")
        L = int(lengths.max()) if width is None else int(width)
        if L < int(lengths.max()):
            raise ValueError(f"width {width} is shorter than the longest row {int(lengths.max())}.")
        pad = torch.arange(L, device=prompt.device)[None, :] >= lengths[:, None]
        x = torch.where(pad, self.pad_id, self.mask_id).to(torch.long)
        conf = torch.where(pad, math.inf, 0.0)
        return MaskedState(x=x, pad=pad, step=0, confidence=conf)

    def done(self, state: MaskedState) -> bool:
        """True after ``steps`` steps or once nothing is masked."""
        return state.step >= self.config.steps or not bool((state.x == self.mask_id).any())

    def _logits(
        self, state: MaskedState, prompt: torch.Tensor, prompt_pad: torch.Tensor | None
    ) -> torch.Tensor:
        x_pad = state.pad if bool(state.pad.any()) else None
        with torch.no_grad():
            logits = self.model(state.x, prompt, x_pad, prompt_pad).float()
        vocab = logits.shape[-1]
        if max(self.forbidden) >= vocab or min(self.forbidden) < 0:
            raise ValueError(
                f"forbidden ids {self.forbidden} include ids outside the vocabulary [0, {vocab})."
            )
        if len(self.forbidden) >= vocab:
            raise ValueError(f"forbidden ids {self.forbidden} rule out the whole vocabulary of {vocab}.")
        return logits

    def _forbid(self, logits: torch.Tensor) -> torch.Tensor:
        idx = torch.tensor(self.forbidden, device=logits.device)
        return logits.index_fill_(-1, idx, -math.inf)

    def predict_x0(
        self, state: MaskedState, prompt: torch.Tensor, prompt_pad: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``Long[B, L]``: ``state.x`` with each masked position filled by its argmax (for potentials)."""
        pred = self._forbid(self._logits(state, prompt, prompt_pad)).argmax(dim=-1)
        return torch.where(state.x == self.mask_id, pred, state.x)

    def step(self, state: MaskedState, prompt: torch.Tensor, prompt_pad: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> MaskedState:
        """One denoising step.

        The model predicts every masked position (argmax at temperature 0, else a Gumbel-max draw
        from ``softmax(logits / T)`` with ``generator``); enough of them are revealed (most
        confident first, or at random) that the row meets the schedule's masked count. With
        ``remask > 0`` and steps remaining (ReMDM), that share of the already decoded tokens,
        lowest confidence first, is masked again (at most the count still due to stay masked,
        so none on the last step); re-masked positions are predicted afresh from the next step.
        """
        cfg = self.config
        logits = self._logits(state, prompt, prompt_pad)
        x, confidence = state.x.clone(), state.confidence.clone()
        masked = x == self.mask_id
        rows, cols = masked.nonzero(as_tuple=True)
        lg = self._forbid(logits[rows, cols])  # [M, V], only the masked positions
        if cfg.temperature == 0.0:
            conf_m, tok = lg.softmax(dim=-1).max(dim=-1)
        else:
            lg = lg / cfg.temperature
            u = torch.rand(lg.shape, generator=generator, device=lg.device).clamp_(1e-20, 1.0)
            tok = (lg - torch.log(-torch.log(u))).argmax(dim=-1)
            conf_m = lg.softmax(dim=-1).gather(-1, tok[:, None]).squeeze(-1)
        pred = torch.full_like(x, self.mask_id)
        pred[rows, cols] = tok
        conf = torch.zeros_like(confidence)
        conf[rows, cols] = conf_m
        last = state.step + 1 >= cfg.steps
        n = (~state.pad).sum(dim=1)
        if last:
            target = torch.zeros_like(n)
        else:
            t_next = torch.tensor([1.0 - (state.step + 1) / cfg.steps])
            frac = float(1.0 - self.schedule.alpha(t_next))
            target = torch.ceil(n.float() * frac - 1e-6).long()
        n_masked = masked.sum(dim=1)
        again = torch.zeros_like(masked)
        if cfg.remask > 0.0 and not last:
            decoded = ~masked & ~state.pad
            k_r = torch.minimum(torch.floor(decoded.sum(dim=1).float() * cfg.remask).long(), target)
            again = _select(torch.where(decoded, -confidence, -math.inf), k_r)
        k = torch.where(n_masked > 0, (n_masked + again.sum(dim=1) - target).clamp_min(1), 0)
        if cfg.strategy == "confidence":
            score = conf
        else:
            score = torch.rand(conf.shape, generator=generator, device=conf.device)
        reveal = _select(torch.where(masked, score, -math.inf), k)
        x[reveal] = pred[reveal]
        confidence[reveal] = conf[reveal]
        x[again] = self.mask_id
        confidence[again] = 0.0
        return MaskedState(x=x, pad=state.pad, step=state.step + 1, confidence=confidence)

    def sample(self, prompt: torch.Tensor, prompt_pad: torch.Tensor | None, lengths: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``Long[B, L]`` programs (pad id beyond each row's length); never contains ``mask_id``."""
        state = self.init(prompt, prompt_pad, lengths)
        while not self.done(state):
            state = self.step(state, prompt, prompt_pad, generator)
        return state.x


def _normalised(log_weights: torch.Tensor) -> torch.Tensor:
    lw = torch.as_tensor(log_weights, dtype=torch.float64)
    if lw.ndim != 1 or lw.numel() == 0:
        raise ValueError(f"log_weights must be a non-empty 1-D tensor [N], got shape {tuple(lw.shape)}.")
    if bool(lw.isnan().any()) or bool((lw == math.inf).any()):
        raise ValueError(f"log_weights must not contain NaN or +inf, got {lw.tolist()}.")
    if bool((lw == -math.inf).all()):
        raise ValueError("all log_weights are -inf: no particle has positive weight.")
    return torch.softmax(lw, dim=0)


def systematic_resample(log_weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """SMC systematic resampling: ``log_weights [N] -> Long[N]`` ancestor indices (sorted).

    One uniform ``u ~ U[0, 1/N)``; index ``i`` is drawn ``floor(N w_i)`` or ``ceil(N w_i)`` times.
    """
    w = _normalised(log_weights)
    n = w.numel()
    u = torch.rand((), generator=generator, dtype=torch.float64).item() / n
    points = u + torch.arange(n, dtype=torch.float64) / n
    idx = torch.searchsorted(torch.cumsum(w, dim=0), points, right=True)
    return idx.clamp_max(n - 1).to(device=torch.as_tensor(log_weights).device)


def effective_sample_size(log_weights: torch.Tensor) -> float:
    """``1 / sum(w^2)`` of the normalised weights: N when equal, 1 when one dominates."""
    w = _normalised(log_weights)
    return float(1.0 / (w * w).sum())
