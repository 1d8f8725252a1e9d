"""Training the action-chunk policy: Minari dataset -> (obs window, action chunk) pairs -> denoiser.

For every step ``t`` of every episode (``T`` steps, ``T + 1`` observations), one training pair:

    cond  = [f(o_{max(t-1, 0)}), f(o_t)]                 ``[obs_horizon, F]``, min-max normalized
    chunk = [a_t, a_{t+1}, ..., a_{t+P-1}]               ``[P, A]``; past the episode end the
                                                           last action repeats (Diffusion Policy)

and the denoiser (a temporal U-Net over the chunk, the flattened ``cond`` as its global
condition) learns the diffusion loss (epsilon prediction, cosine schedule, 100 steps by default)
with AdamW + warmup/cosine LR and an EMA of the weights; the EMA weights are registered in the
model registry as kind ``"chunk-policy"`` with the normalizers, the config, the seed and the git
commit. ``eval_episodes > 0`` then evaluates it on ``eval_env`` with reset seeds
``eval_seed, eval_seed + 1, ...`` (success at the last step on Fetch).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from adiff_env.datasets.filters import check_max_noise_std, keep_episode
from adiff_env.datasets.normalizers import NORMALIZERS, MinMaxNormalizer, fit_normalizer
from adiff_env.diffusion import EMA, DiffusionObjective, OptimConfig, TrainStep, build_model, make_schedule, model_spec
from adiff_env.diffusion._config import config_to_dict
from adiff_env.errors import UnknownNameError
from adiff_env.planners.chunk_policy import KIND, ChunkConfig, ChunkPolicy, key_value
from adiff_env.registry import Checkpoint, CheckpointMetadata, ModelRegistry


@dataclass(frozen=True)
class ChunkTrainConfig:
    """One training run (constructor args are the config; saved with the checkpoint).

    ``dataset``: Minari id; ``name``: registry name; ``eval_env``: env id for the final
    evaluation (default: the dataset's eval env). ``max_noise_std``: train only on episodes
    recorded with at most this action noise (``infos["noise_std"]``; 0.0: clean only; None:
    all). ``obs_normalizer``: ``"minmax"`` or ``"gaussian"`` (z-score; robust to the rare
    large velocities of Fetch, which squash min-max features). Model: temporal U-Net with ``dim`` channels
    and ``dim_mults`` levels (``pred_horizon`` must divide by ``2 ** (len(dim_mults) - 1)``).
    """

    dataset: str
    name: str
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    steps: int = 5000
    batch_size: int = 256
    lr: float = 3e-4
    warmup_steps: int = 200
    ema_decay: float = 0.995
    n_timesteps: int = 100
    schedule: str = "cosine"
    prediction: str = "epsilon"
    dim: int = 32
    dim_mults: tuple[int, ...] = (1, 2, 4)
    seed: int = 0
    eval_env: str | None = None
    eval_env_kwargs: dict[str, Any] | None = None
    eval_episodes: int = 0
    eval_seed: int = 10_000
    max_noise_std: float | None = None
    obs_normalizer: str = "minmax"

    def __post_init__(self) -> None:
        check_max_noise_std(self.max_noise_std)
        if self.obs_normalizer not in NORMALIZERS:
            raise UnknownNameError("normalizer", self.obs_normalizer, sorted(NORMALIZERS))
        if self.steps < 1 or self.batch_size < 1 or self.eval_episodes < 0:
            raise ValueError(f"steps and batch_size must be >= 1 and eval_episodes >= 0; got {self.steps}, "
                             f"{self.batch_size}, {self.eval_episodes}.")


@dataclass
class ChunkTrainResult:
    checkpoint: Checkpoint
    steps: int
    wall_s: float
    final_loss: float
    pairs: int
    scores: dict[str, Any]


class ChunkPairs:
    """All (condition, chunk) pairs of a dataset as index tensors into flat normalized arrays.

    ``feats: [N_obs, F]`` and ``actions: [N_act, A]`` (normalized, float32); ``obs_index:
    [N, obs_horizon]`` and ``act_index: [N, P]`` pick each pair's rows.
    """

    def __init__(self, dataset_id: str, chunk: ChunkConfig, *, max_noise_std: float | None = None,
                 obs_normalizer: str = "minmax") -> None:
        import minari

        ds = minari.load_dataset(dataset_id)
        feats, acts, obs_index, act_index = [], [], [], []
        n_obs = n_act = 0
        self.episodes = 0
        for ep in ds.iterate_episodes():
            if not keep_episode(ep, max_noise_std):
                continue
            self.episodes += 1
            obs = ep.observations
            T = len(ep.actions)
            feats.append(_episode_features(obs, chunk.obs_keys, T + 1))
            acts.append(np.asarray(ep.actions, dtype=np.float64).reshape(T, -1))
            t = np.arange(T)
            lags = np.arange(-(chunk.obs_horizon - 1), 1)
            obs_index.append(n_obs + np.clip(t[:, None] + lags[None, :], 0, T))
            act_index.append(n_act + np.clip(t[:, None] + np.arange(chunk.pred_horizon)[None, :], 0, T - 1))
            n_obs, n_act = n_obs + T + 1, n_act + T
        if not acts:
            raise ValueError(f"dataset {dataset_id!r} has no episodes (max_noise_std={max_noise_std}).")
        feats_all, acts_all = np.concatenate(feats), np.concatenate(acts)
        self.obs_normalizer = fit_normalizer(obs_normalizer, feats_all)
        self.action_normalizer = MinMaxNormalizer.fit(acts_all)
        self.feats = torch.as_tensor(self.obs_normalizer.normalize(feats_all), dtype=torch.float32)
        self.actions = torch.as_tensor(self.action_normalizer.normalize(acts_all), dtype=torch.float32)
        self.obs_index = torch.as_tensor(np.concatenate(obs_index), dtype=torch.long)
        self.act_index = torch.as_tensor(np.concatenate(act_index), dtype=torch.long)
        self.eval_env_id = _eval_env_id(ds)

    def __len__(self) -> int:
        return int(self.obs_index.shape[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(chunks [B, P, A], cond [B, obs_horizon * F])`` of the pairs ``idx``."""
        chunks = self.actions[self.act_index[idx]]
        cond = self.feats[self.obs_index[idx]].flatten(1)
        return chunks, cond


def train_chunk_policy(config: ChunkTrainConfig, *, device: str = "cpu", progress: bool = True,
                       registry: ModelRegistry | None = None) -> ChunkTrainResult:
    """Train the chunk policy of ``config`` and register its EMA weights as ``config.name``."""
    from adiff_env.registry import check_name

    check_name(config.name)  # fail before the work
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    pairs = ChunkPairs(config.dataset, config.chunk, max_noise_std=config.max_noise_std,
                       obs_normalizer=config.obs_normalizer)
    a = pairs.actions.shape[1]
    cond_dim = config.chunk.obs_horizon * pairs.feats.shape[1]
    spec = {"arch": "temporal_unet", "config": {"transition_dim": a, "horizon": config.chunk.pred_horizon,
                                                 "dim": config.dim, "dim_mults": list(config.dim_mults),
                                                 "cond_dim": cond_dim}}
    model = build_model(spec).to(device)
    schedule = make_schedule(config.schedule, config.n_timesteps)
    objective = DiffusionObjective(schedule, prediction=config.prediction)
    ema = EMA(model, decay=config.ema_decay)
    trainer = TrainStep(model, OptimConfig(lr=config.lr, warmup_steps=config.warmup_steps, total_steps=config.steps),
                        ema=ema)
    start, loss = time.perf_counter(), float("nan")
    bar = tqdm(total=config.steps, desc=f"train {config.name}", disable=not progress, dynamic_ncols=True)
    try:
        while trainer.step < config.steps:
            idx = torch.randint(0, len(pairs), (config.batch_size,), generator=generator)
            chunks, cond = pairs.batch(idx)
            chunks, cond = chunks.to(device), cond.to(device)
            loss = trainer(lambda: objective(model, chunks, cond=cond, generator=generator).loss)
            bar.update(1)
            if trainer.step % 50 == 0:
                bar.set_postfix(loss=f"{loss:.4f}")
    finally:
        bar.close()
    wall = time.perf_counter() - start
    env_id = config.eval_env or pairs.eval_env_id
    model_config = {
        "model": model_spec(ema.shadow), "schedule": schedule.to_dict(), "prediction": config.prediction,
        "chunk": config_to_dict(config.chunk), "action_dim": a,
        "obs_normalizer": pairs.obs_normalizer.to_dict(), "action_normalizer": pairs.action_normalizer.to_dict(),
        "train": _jsonable(config),
    }
    scores: dict[str, Any] = {}
    if config.eval_episodes:
        policy = ChunkPolicy(ema.shadow, schedule.to_dict(), config.prediction, pairs.obs_normalizer,
                             pairs.action_normalizer, config.chunk, device=device, seed=config.seed)
        scores = evaluate_policy(policy, env_id, config.eval_episodes, config.eval_seed, config.eval_env_kwargs)
    meta = CheckpointMetadata(
        kind=KIND, env=env_id, dataset=config.dataset, steps=trainer.step, scores=scores, seed=config.seed,
        extra={"train_wall_s": round(wall, 1), "final_loss": loss, "pairs": len(pairs),
               "episodes": pairs.episodes},
    )
    tensors = {f"model.{k}": v for k, v in ema.shadow.state_dict().items()}
    checkpoint = (registry or ModelRegistry()).save(config.name, meta, tensors=tensors, config=model_config)
    return ChunkTrainResult(checkpoint, trainer.step, wall, loss, len(pairs), scores)


def evaluate_policy(policy: Any, env_id: str, episodes: int, seed: int, env_kwargs: dict | None = None) -> dict[str, Any]:
    """Success (last step on Fetch), ever-success and mean return of ``policy`` over ``episodes``
    episodes with reset seeds ``seed, seed + 1, ...``."""
    import gymnasium as gym

    from adiff_env.evaluation import run_episodes

    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        ever: list[bool] = []
        returns, successes, _ = run_episodes(env, policy, episodes, seed, ever=ever)
    finally:
        env.close()
    return {"env": env_id, "env_kwargs": env_kwargs or {}, "episodes": episodes, "seeds": [seed, seed + episodes - 1],
            "success_rate": float(np.mean(successes)), "ever_success_rate": float(np.mean(ever)),
            "return_mean": float(np.mean(returns)), **policy.eval_stats()}


def _episode_features(obs: Any, keys: tuple[str, ...], n: int) -> np.ndarray:
    """``[n, F]`` features of an episode's observations, as :func:`observation_features` row by row."""
    if isinstance(obs, dict):
        return np.concatenate([key_value(obs, k, n) for k in keys], axis=1)
    return np.asarray(obs, dtype=np.float64).reshape(n, -1)


def _eval_env_id(ds: Any) -> str:
    """The dataset's evaluation env id (its collection env's when it records none)."""
    import json

    meta = ds.storage.metadata
    for key in ("eval_env_spec", "env_spec"):
        try:
            return json.loads(meta[key])["id"]
        except (KeyError, TypeError, ValueError):
            continue
    raise ValueError("the dataset records no env spec; pass eval_env=ENV_ID.")


def _jsonable(config: ChunkTrainConfig) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    out["chunk"] = config_to_dict(config.chunk)
    out["dim_mults"] = list(config.dim_mults)
    return out
