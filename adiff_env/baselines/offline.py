"""Offline baselines (BC, IQL, CQL): the training loop, checkpoints, and the agent.

``train_offline("iql", env_id, dataset_id, IQLConfig(steps=...), name=...)`` samples
relabelled batches (``data.py``), runs the algorithm's ``update`` ``steps`` times (tqdm bar,
TensorBoard scalars when ``run_dir`` is given) and registers a checkpoint of kind ``"bc"``,
``"iql"`` or ``"cql"``: ``weights.safetensors`` (every network, ``policy.*`` among them),
``config.json`` ``{"algo", "config", "dims", "keys"}``. :class:`OfflineAgent` loads the policy
and acts on the raw GoalEnv observation (single or batched over vector envs); the input
normalizer travels inside the weights.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from adiff_env.baselines.bc import BCConfig, BCLearner
from adiff_env.baselines.config import OfflineConfig
from adiff_env.baselines.cql import CQLConfig, CQLLearner
from adiff_env.baselines.data import GoalTransitions, load_goal_transitions
from adiff_env.baselines.iql import IQLConfig, IQLLearner
from adiff_env.baselines.nets import DeterministicPolicy, GaussianPolicy, InputNorm, TanhGaussianPolicy
from adiff_env.diffusion.models import load_prefixed
from adiff_env.errors import UnknownNameError
from adiff_env.registry import Checkpoint, CheckpointError, CheckpointMetadata, ModelRegistry

ALGOS: dict[str, tuple[type[OfflineConfig], type, type[torch.nn.Module]]] = {
    "bc": (BCConfig, BCLearner, DeterministicPolicy),
    "iql": (IQLConfig, IQLLearner, GaussianPolicy),
    "cql": (CQLConfig, CQLLearner, TanhGaussianPolicy),
}
KEYS = ("observation", "desired_goal")


def make_config(algo: str, **overrides: Any) -> OfflineConfig:
    """The algorithm's config with ``overrides``; unknown fields raise ``ValueError`` naming them."""
    if algo not in ALGOS:
        raise UnknownNameError("offline algorithm", algo, ALGOS)
    from adiff_env import config

    return config.from_dict(ALGOS[algo][0], overrides, f"{algo} config")


@dataclasses.dataclass
class OfflineResult:
    checkpoint: Checkpoint
    losses: dict[str, float]
    wall_s: float


def train_offline(
    algo: str,
    env_id: str,
    dataset_id: str,
    config: OfflineConfig | None = None,
    *,
    name: str | None = None,
    registry: ModelRegistry | None = None,
    data: GoalTransitions | None = None,
    run_dir: Path | str | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> OfflineResult:
    """Train ``algo`` on ``dataset_id`` and register it as ``name`` (default ``ALGO-ENVNAME``)."""
    if algo not in ALGOS:
        raise UnknownNameError("offline algorithm", algo, ALGOS)
    cfg = config if config is not None else make_config(algo)
    if not isinstance(cfg, ALGOS[algo][0]):
        raise TypeError(f"config for {algo!r} must be a {ALGOS[algo][0].__name__}, got {type(cfg).__name__}.")
    data = data if data is not None else load_goal_transitions(dataset_id)
    dims = data.dims
    inp = dims["obs_dim"] + dims["goal_dim"]
    torch.manual_seed(cfg.seed)
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    learner = ALGOS[algo][1](inp, dims["action_dim"], cfg, dev, gen)
    mean, std = (torch.as_tensor(v, dtype=torch.float32) for v in data.input_stats())
    for module in learner.modules().values():
        for sub in module.modules():
            if isinstance(sub, InputNorm):
                sub.set(mean, std)
    writer = None
    if run_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(Path(run_dir) / "tb"))
    start, last = time.perf_counter(), {}
    bar = tqdm(range(1, cfg.steps + 1), desc=f"{algo} on {dataset_id}", disable=not progress)
    for step in bar:
        batch = {k: v.to(dev) for k, v in data.sample(cfg.batch_size, rng, cfg.relabel_prob, cfg.max_goal_offset,
                                                                cfg.goal_radius).items()}
        last = learner.update(batch)
        if step % cfg.log_every == 0 or step == cfg.steps:
            bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in last.items()})
            if writer is not None:
                for k, v in last.items():
                    writer.add_scalar(k, v, step)
    if writer is not None:
        writer.close()
    tensors = {f"{prefix}.{k}": v for prefix, m in learner.modules().items() for k, v in m.state_dict().items()}
    env_name = env_id.rsplit("/", 1)[-1].lower()
    meta = CheckpointMetadata(kind=algo, env=env_id, dataset=dataset_id, steps=cfg.steps, seed=cfg.seed,
                              extra={"final_losses": last, "wall_s": time.perf_counter() - start})
    ckpt = (registry or ModelRegistry()).save(
        name or f"{algo}-{env_name}", meta, tensors=tensors,
        config={"algo": algo, "config": dataclasses.asdict(cfg), "dims": dims, "keys": list(KEYS)},
    )
    return OfflineResult(ckpt, last, time.perf_counter() - start)


class OfflineAgent:
    """A trained offline policy as an agent: ``action = pi([observation, desired_goal])``.

    Batched: an observation dict with a leading env axis ``[N, ...]`` gives actions ``[N, A]``
    (one forward pass), so vectorized evaluation calls it once per step."""

    batch_predict = True

    def __init__(self, policy: torch.nn.Module, keys: tuple[str, ...] = KEYS, name: str = "offline", seed: int = 0) -> None:
        self.policy = policy.eval()
        self.keys = keys
        self.name = name
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, env: Any = None, seed: int = 0) -> OfflineAgent:
        algo = checkpoint.metadata.kind
        if algo not in ALGOS:
            raise CheckpointError(f"{checkpoint.path} holds a {algo!r}, not one of {sorted(ALGOS)}.")
        try:
            cfg = make_config(algo, **checkpoint.config["config"])
            dims = checkpoint.config["dims"]
            keys = tuple(checkpoint.config.get("keys", KEYS))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{checkpoint.path}: config.json is missing or has a bad field ({exc}).") from exc
        policy = ALGOS[algo][2](dims["obs_dim"] + dims["goal_dim"], dims["action_dim"], cfg.hidden, cfg.layers)
        load_prefixed(policy, checkpoint.tensors, "policy.", str(checkpoint.path))
        if env is not None:
            _check_env(env, keys, dims, checkpoint.spec)
        return cls(policy, keys, checkpoint.spec, seed)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        if not isinstance(observation, dict) or any(k not in observation for k in self.keys):
            raise TypeError(f"{self.name} expects a dict observation with keys {list(self.keys)}.")
        parts = [np.asarray(observation[k], dtype=np.float32) for k in self.keys]
        batched = parts[0].ndim == 2
        x = torch.from_numpy(np.concatenate([p.reshape(p.shape[0], -1) if batched else p.reshape(1, -1) for p in parts], axis=1))
        with torch.inference_mode():
            action = self.policy.act(x, deterministic=deterministic, generator=self.generator).numpy()
        action = np.clip(action, -1.0, 1.0).astype(np.float32)
        return (action if batched else action[0]), state


def _check_env(env: Any, keys: tuple[str, ...], dims: dict[str, int], spec: str) -> None:
    space = getattr(env, "observation_space", None)
    spaces = getattr(space, "spaces", None)
    if spaces is None or any(k not in spaces for k in keys):
        raise ValueError(f"{spec} acts on dict observations with keys {list(keys)}; this env's space is {space}.")
    got = (int(np.prod(spaces[keys[0]].shape)), int(np.prod(spaces[keys[1]].shape)), int(np.prod(env.action_space.shape)))
    want = (dims["obs_dim"], dims["goal_dim"], dims["action_dim"])
    if got != want:
        raise ValueError(f"{spec} was trained for (obs, goal, action) sizes {want}; this env has {got}. Pick a checkpoint for this env.")


def load_offline_agent(algo: str, spec: str, env: Any, seed: int = 0) -> OfflineAgent:
    """``bc:NAME[@vK]`` etc.: the checkpoint must be of kind ``algo``."""
    if not spec:
        raise ValueError(f"{algo} agent spec needs a model: '{algo}:NAME', '{algo}:NAME@v2' or '{algo}:PATH'.")
    return OfflineAgent.from_checkpoint(ModelRegistry().load(spec, kind=algo), env, seed=seed)
