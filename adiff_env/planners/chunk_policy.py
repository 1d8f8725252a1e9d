"""Diffusion-Policy-style action-chunk agent (Chi et al., RSS 2023) on the diffusion engine.

Domain-agnostic: it works on any env whose observation is an array or a dict of arrays (GoalEnv:
``observation`` + ``desired_goal``), with a Box action space. At each replanning step it denoises
a chunk of ``pred_horizon`` actions ``[P, A]`` conditioned on the last ``obs_horizon``
observations (the denoiser's global condition, ``[obs_horizon * F]`` with ``F`` the features
of one observation: the chosen keys concatenated, min-max normalized) and executes the first
``action_horizon`` of them (receding horizon), then replans::

    cond = concat(norm(f(o_{t-1})), norm(f(o_t)))         (o_{-1} := o_0 at an episode start)
    x ~ N(0, I) [1, P, A] -> DDIM / DDPM steps of the denoiser -> a_t .. a_{t+P-1} (normalized)
    execute unnorm(a_t .. a_{t+K-1}), K = action_horizon

Defaults follow Diffusion Policy: obs horizon 2, action horizon 8, prediction horizon 16, 100
training diffusion steps, DDIM with 10 steps at inference. Checkpoints live in the model registry
(kind ``"chunk-policy"``); the agent kind is ``chunk:NAME[@vK]``. Training:
:func:`adiff_env.planners.chunk_train.train_chunk_policy`.

Per-episode memory (the observation history and the queue of planned actions) travels in
``state`` (a :class:`ChunkState`), reset at ``episode_start``; one env at a time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from adiff_env.datasets.normalizers import Normalizer, normalizer_from_dict
from adiff_env.diffusion import build_model, make_scheduler, schedule_from_dict

KIND = "chunk-policy"


@dataclass(frozen=True)
class ChunkConfig:
    """Shape of the chunk policy (saved with the weights).

    ``obs_keys``: dict keys whose arrays form one observation's features, in order (ignored
    for array observations); ``"A-B"`` is the difference of two keys (:func:`key_value`). ``sampler`` / ``sampler_steps``: inference sampler (DDIM-10).
    """

    obs_horizon: int = 2
    action_horizon: int = 8
    pred_horizon: int = 16
    obs_keys: tuple[str, ...] = ("observation", "desired_goal")
    sampler: str = "ddim"
    sampler_steps: int = 10

    def __post_init__(self) -> None:
        if self.obs_horizon < 1 or self.action_horizon < 1 or self.pred_horizon < self.action_horizon:
            raise ValueError(
                f"ChunkConfig needs obs_horizon >= 1 and 1 <= action_horizon <= pred_horizon; got "
                f"{self.obs_horizon}, {self.action_horizon}, {self.pred_horizon}."
            )
        if self.sampler_steps < 1:
            raise ValueError(f"sampler_steps must be >= 1, got {self.sampler_steps}.")


def key_value(observation: dict[str, Any], key: str, n: int | None = None) -> np.ndarray:
    """The array of ``key`` in a dict observation, flattened (``[D]``, or ``[n, D]`` for ``n``
    stacked observations). ``"A-B"`` (two keys) is the difference ``observation[A] -
    observation[B]``, e.g. ``"desired_goal-achieved_goal"``: the goal relative to the achieved
    goal, a GoalEnv feature a policy needs at the precision of the goal tolerance."""
    def get(k: str) -> np.ndarray:
        arr = np.asarray(observation[k], dtype=np.float64)
        return arr.reshape(-1) if n is None else arr.reshape(n, -1)

    if key in observation:
        return get(key)
    left, sep, right = key.partition("-")
    if sep and left in observation and right in observation:
        return get(left) - get(right)
    raise KeyError(f"observation lacks the key {key!r}; it has {sorted(observation)} (a difference is "
                   f"written 'A-B' with A and B among them).")


def observation_features(observation: Any, keys: Sequence[str]) -> np.ndarray:
    """One observation's feature vector ``[F]`` (dict: ``keys`` concatenated, see
    :func:`key_value`; array: flattened)."""
    if isinstance(observation, dict):
        return np.concatenate([key_value(observation, k) for k in keys])
    return np.asarray(observation, dtype=np.float64).reshape(-1)


@dataclass
class ChunkState:
    """What the agent remembers within one episode."""

    history: list[np.ndarray] = field(default_factory=list)  # last obs_horizon feature vectors [F]
    queue: list[np.ndarray] = field(default_factory=list)  # planned actions still to execute [A]


class ChunkPolicy:
    """The action-chunk agent (module doc). Build it with :meth:`from_checkpoint`.

    Args:
        model: denoiser ``forward(x [B, P, A], t, cond [B, obs_horizon * F]) -> [B, P, A]``.
        schedule: noise-schedule dict (``NoiseSchedule.to_dict()``); prediction: its target.
        obs_normalizer, action_normalizer: fitted on the training data (``[F]``, ``[A]``).
        config: :class:`ChunkConfig`. device, seed: where to sample and the noise seed.
    """

    def __init__(self, model: torch.nn.Module, schedule: dict, prediction: str, obs_normalizer: Normalizer,
                 action_normalizer: Normalizer, config: ChunkConfig, *, device: str = "cpu",
                 seed: int = 0, name: str = "chunk") -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = torch.device(device)
        self.scheduler = make_scheduler(config.sampler, schedule_from_dict(schedule), prediction=prediction,
                                        steps=config.sampler_steps, clip_sample=1.0)
        self.obs_normalizer, self.action_normalizer = obs_normalizer, action_normalizer
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self.action_dim = len(action_normalizer.to_dict()["low" if action_normalizer.kind == "minmax" else "mean"])
        self.name = name
        self._plan_ms: list[float] = []

    @classmethod
    def from_checkpoint(cls, checkpoint: Any, env: Any = None, *, device: str = "cpu", seed: int = 0,
                        **overrides: Any) -> ChunkPolicy:
        """Rebuild from a registry checkpoint; ``overrides`` replace :class:`ChunkConfig` fields
        (``sampler``, ``sampler_steps``, ``action_horizon``)."""
        cfg = checkpoint.config
        known = {f.name for f in dataclasses.fields(ChunkConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown chunk-policy option(s) {unknown}; known: {sorted(known)}.")
        config = ChunkConfig(**{**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["chunk"].items()},
                                **overrides})
        model = build_model(cfg["model"])
        from adiff_env.registry import load_weights

        load_weights(model, {k[6:]: v for k, v in checkpoint.tensors.items() if k.startswith("model.")},
                     str(checkpoint.path))
        if env is not None:
            space = env.action_space
            if tuple(space.shape) != (cfg["action_dim"],):
                raise ValueError(f"checkpoint {checkpoint.spec} acts in {cfg['action_dim']} dims; the env's "
                                 f"action space has shape {tuple(space.shape)}.")
        return cls(model, cfg["schedule"], cfg["prediction"], normalizer_from_dict(cfg["obs_normalizer"]),
                   normalizer_from_dict(cfg["action_normalizer"]), config, device=device, seed=seed,
                   name=checkpoint.spec)

    def condition(self, history: Sequence[np.ndarray]) -> torch.Tensor:
        """Global condition ``[1, obs_horizon * F]`` from the last feature vectors (oldest first)."""
        feats = np.stack(list(history)[-self.config.obs_horizon:])
        normed = self.obs_normalizer.normalize(feats).reshape(1, -1)
        return torch.as_tensor(normed, dtype=torch.float32, device=self.device)

    def plan(self, history: Sequence[np.ndarray]) -> np.ndarray:
        """A chunk of ``pred_horizon`` unnormalized actions ``[P, A]``."""
        from adiff_env.diffusion import sample

        start = time.perf_counter()
        out = sample(self.model, self.scheduler, (1, self.config.pred_horizon, self.action_dim), device=self.device,
                     generator=self.generator, cond=self.condition(history))
        actions = self.action_normalizer.unnormalize(out.samples[0].cpu().numpy().astype(np.float64))
        self._plan_ms.append(1000 * (time.perf_counter() - start))
        return np.clip(actions, -1.0, 1.0)

    def predict(self, observation: Any, state: ChunkState | None = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, ChunkState]:
        """SB3's signature: the next action ``[A]`` (float32) and the updated :class:`ChunkState`."""
        first = isinstance(observation, dict) and np.asarray(observation[self.config.obs_keys[0]]).ndim > 1
        if first:
            raise ValueError("the chunk policy controls one env; pass one observation, not a batch.")
        if state is None or bool(np.any(episode_start)):
            state = ChunkState()
        feats = observation_features(observation, self.config.obs_keys)
        if not state.history:
            state.history = [feats] * self.config.obs_horizon  # pad with the first observation
        else:
            state.history = [*state.history[1:], feats]
        if not state.queue:
            state.queue = list(self.plan(state.history)[: self.config.action_horizon])
        return state.queue.pop(0).astype(np.float32), state

    def eval_stats(self) -> dict[str, Any]:
        """Planning figures for the evaluation result (median ms per chunk, sampler)."""
        median = float(np.median(self._plan_ms)) if self._plan_ms else None
        return {"plan_ms_median": median, "sampler": f"{self.config.sampler}-{self.config.sampler_steps}"}
