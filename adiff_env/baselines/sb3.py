"""Stable-Baselines3 baselines: SAC + HER on goal-conditioned mazes, PPO on flattened goals.

``train_sb3("sac-her", env_id, steps)`` trains SAC with SB3's ``HerReplayBuffer`` (future
strategy, 4 sampled goals) on the GoalEnv dict observation; ``"ppo"`` trains PPO on
:func:`~adiff_env.wrappers.flatten_goal` (observation, desired_goal). Either is saved in
the model registry as an extra file ``model.zip`` with ``CheckpointMetadata(kind="sb3")`` and
``config.json`` ``{"algo", "flatten_keys"}``.

:class:`SB3Agent` acts on the env's *raw* dict observation: it flattens it first where the
model was trained on flattened goals, so every SB3 model is called the same way. SB3's
``predict`` takes single or batched observations, so the agent is batched too.
"""

from __future__ import annotations

import copy
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from adiff_env.errors import UnknownNameError
from adiff_env.registry import CheckpointMetadata, ModelRegistry

ALGOS = ("sac-her", "ppo")
SB3_CLASSES = ("sac", "ppo", "td3", "ddpg", "a2c", "dqn")
MODEL_FILE = "model.zip"
FLAT_KEYS = ("observation", "desired_goal")


def sb3_class(name: str):
    """The SB3 algorithm class for ``sac``, ``ppo``, ``td3``, ``ddpg``, ``a2c``, ``dqn``."""
    import stable_baselines3 as sb3

    if name not in SB3_CLASSES:
        raise UnknownNameError("SB3 algorithm", name, SB3_CLASSES)
    return getattr(sb3, name.upper())


def zip_algorithm(path: Path) -> str:
    """The algorithm a SB3 zip was saved by, read from its ``data`` JSON (``policy_class``'s module,
    e.g. ``stable_baselines3.sac.policies`` -> ``sac``; the shared ``common.policies`` is PPO
    when a ``clip_range`` is saved, else A2C); nothing is unpickled."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
        module = data["policy_class"]["__module__"]
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path} is not a Stable-Baselines3 model zip ({exc}).") from exc
    parts = module.split(".")
    algo = parts[1] if len(parts) > 2 and parts[0] == "stable_baselines3" else None
    if algo == "common":  # ActorCriticPolicy: PPO saves a clip range, A2C does not
        algo = "ppo" if "clip_range" in data else "a2c"
    if algo not in SB3_CLASSES:
        raise ValueError(f"{path}: cannot tell the SB3 algorithm from policy module {module!r}; known: {SB3_CLASSES}.")
    return algo


class SB3Agent:
    """An SB3 model behind the agent protocol, on the env's raw observation.

    ``flatten_keys``: concatenate these dict entries first (models trained with
    ``flatten_goal``); None passes the dict through (SAC + HER's ``MultiInputPolicy``), keeping
    only the keys the model was trained on (a push model acts on FetchPush-Avoid, whose
    observation adds ``forbidden_zone``)."""

    batch_predict = True

    def __init__(self, model: Any, flatten_keys: tuple[str, ...] | None = None, name: str = "sb3") -> None:
        self.model = model
        self.flatten_keys = flatten_keys
        self.name = name

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        obs = observation
        if self.flatten_keys is not None:
            if not isinstance(observation, dict):
                raise TypeError(f"{self.name} was trained on flattened {list(self.flatten_keys)}; pass the env's dict observation.")
            parts = [np.asarray(observation[k], dtype=np.float64) for k in self.flatten_keys]
            batched = parts[0].ndim == 2
            obs = np.concatenate([p.reshape(p.shape[0], -1) if batched else p.ravel() for p in parts], axis=-1)
        elif isinstance(observation, dict):
            keys = getattr(getattr(self.model, "observation_space", None), "spaces", None)
            if keys is not None and set(observation) - set(keys):  # e.g. FetchPush-Avoid's forbidden_zone
                obs = {k: observation[k] for k in keys}
        action, state = self.model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)
        return action, state


def load_sb3_agent(spec: str, env: Any = None) -> SB3Agent:
    """``sb3:PATH.zip`` (a plain SB3 zip) or ``sb3:NAME[@vK]`` / ``sb3:DIR`` (a registry checkpoint)."""
    if not spec:
        raise ValueError("sb3 agent spec needs a model: 'sb3:NAME', 'sb3:NAME@v2', 'sb3:DIR' or 'sb3:PATH.zip'.")
    path = Path(spec).expanduser()
    if path.suffix == ".zip":
        if not path.is_file():
            raise FileNotFoundError(f"SB3 model {path} does not exist.")
        algo = zip_algorithm(path)
        flatten = None
        if env is not None and isinstance(env.observation_space, gym.spaces.Dict):
            model_space = _zip_observation_space(path)
            flatten = None if isinstance(model_space, gym.spaces.Dict) else FLAT_KEYS
        return SB3Agent(_load_for_acting(algo, path), flatten, name=str(path))
    ckpt = ModelRegistry().load(spec, kind="sb3")
    algo = ckpt.config.get("algo")
    keys = ckpt.config.get("flatten_keys")
    model = _load_for_acting(algo, ckpt.path / MODEL_FILE)
    return SB3Agent(model, tuple(keys) if keys else None, name=ckpt.spec)


# Acting needs no replay buffer: a HER buffer would need the training env, and any buffer
# would allocate its full size. Keys absent from a zip (on-policy algorithms) are ignored.
_NO_BUFFER = {"replay_buffer_class": None, "replay_buffer_kwargs": {}, "buffer_size": 1}


def _load_for_acting(algo: str, path: Path) -> Any:
    return sb3_class(algo).load(path, device="cpu", custom_objects=_NO_BUFFER)


def _zip_observation_space(path: Path) -> Any:
    from stable_baselines3.common.save_util import load_from_zip_file

    data, _, _ = load_from_zip_file(path, device="cpu", load_data=True)
    return data.get("observation_space")


def train_sb3(
    algo: str,
    env_id: str,
    steps: int,
    *,
    seed: int = 0,
    name: str | None = None,
    registry: ModelRegistry | None = None,
    progress: bool = True,
    tensorboard_log: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    checkpoint_every: int | None = None,
    checkpoint_dir: str | Path | None = None,
    **algo_kwargs: Any,
):
    """Train ``algo`` (``"sac-her"`` or ``"ppo"``) on ``env_id`` for ``steps`` env steps and register it.

    ``env_kwargs`` go to ``gym.make`` (e.g. ``max_episode_steps``); ``algo_kwargs`` to the SB3
    constructor. HER samples only finished episodes, so SAC's ``learning_starts`` must exceed
    the episode length (default: episode length + 1). ``checkpoint_every``: also save the model
    every that many env steps as ``checkpoint_dir/sac-her_STEPS_steps.zip`` (SB3's
    ``CheckpointCallback``; act with ``sb3:PATH.zip``), so a long run that is stopped keeps its
    snapshots; the registry gets the final model only."""
    from adiff_env.wrappers import flatten_goal

    if algo not in ALGOS:
        raise UnknownNameError("SB3 training algorithm", algo, ALGOS)
    recorded = _jsonable(copy.deepcopy(algo_kwargs))  # SB3 fills policy_kwargs in place
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    env = gym.make(env_id, **(env_kwargs or {}))
    flatten_keys = None
    if algo == "sac-her":
        if not isinstance(env.observation_space, gym.spaces.Dict) or "desired_goal" not in env.observation_space.spaces:
            raise ValueError(f"sac-her needs a GoalEnv (dict observation with desired_goal); {env_id} has {env.observation_space}. Use ppo.")
        from stable_baselines3 import SAC, HerReplayBuffer

        kwargs = dict(replay_buffer_class=HerReplayBuffer,
                      replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
                      learning_starts=env.spec.max_episode_steps + 1, batch_size=256)
        kwargs.update(algo_kwargs)
        if kwargs["learning_starts"] <= env.spec.max_episode_steps:
            raise ValueError(
                f"learning_starts={kwargs['learning_starts']} must exceed the episode length "
                f"{env.spec.max_episode_steps}: HER samples only finished episodes."
            )
        model = SAC("MultiInputPolicy", env, seed=seed, device="cpu", verbose=0, tensorboard_log=tensorboard_log, **kwargs)
        sb3_name = "sac"
    else:
        from stable_baselines3 import PPO

        if isinstance(env.observation_space, gym.spaces.Dict):
            env, flatten_keys = flatten_goal(env, FLAT_KEYS), list(FLAT_KEYS)
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, tensorboard_log=tensorboard_log, **algo_kwargs)
        sb3_name = "ppo"
    callback = None
    if checkpoint_every is not None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer or None, got {checkpoint_every!r}.")
        if checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir (where the snapshots go).")
        from stable_baselines3.common.callbacks import CheckpointCallback

        callback = CheckpointCallback(save_freq=checkpoint_every, save_path=str(checkpoint_dir), name_prefix=algo)
    model.learn(total_timesteps=steps, progress_bar=progress, callback=callback)
    env.close()
    with tempfile.TemporaryDirectory() as tmp:
        zpath = Path(tmp) / MODEL_FILE
        model.save(zpath)
        meta = CheckpointMetadata(kind="sb3", env=env_id, steps=steps, seed=seed,
                                  extra={"train_algo": algo, "algo_kwargs": recorded,
                                         "env_kwargs": _jsonable(env_kwargs or {})})
        env_name = env_id.rsplit("/", 1)[-1].lower()
        return (registry or ModelRegistry()).save(
            name or f"{algo}-{env_name}", meta, config={"algo": sb3_name, "flatten_keys": flatten_keys},
            extra_files={MODEL_FILE: zpath},
        )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with anything JSON cannot hold as its ``repr`` (run records stay plain JSON)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        try:
            json.dumps(value)
            out[key] = value
        except TypeError:
            out[key] = repr(value)
    return out
