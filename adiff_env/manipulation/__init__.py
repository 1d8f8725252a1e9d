"""Fetch manipulation domain: push and pick-and-place on gymnasium-robotics' MuJoCo Fetch robot.

Importing this package registers the ids below with string entry points; it imports neither
MuJoCo nor torch (the env classes load on ``gym.make``).

==================================  ==========================================  =====
id                                  task                                        steps
==================================  ==========================================  =====
``adiff/FetchPush-v0``              push the block to a goal on the table       50
``adiff/FetchPickAndPlace-v0``      pick and place; ``goal_region=`` ``"table"``  50
                                    / ``"air"`` / ``"both"`` (default, Fetch's)
``adiff/FetchPush-Avoid-v0``        push, with a forbidden disc on the table     50
                                    (extra cost while the block is inside it)
==================================  ==========================================  =====

Success is ``info["is_success"]`` at the last step (block within 0.05 m of the goal). Env
classes: :mod:`adiff_env.manipulation.env`; scripted experts: :mod:`adiff_env.manipulation.expert`;
reference scores: ``envs/manipulation/references.json`` (``benchmarks/compute_fetch_refs.py``).
"""

from __future__ import annotations

import json
from typing import Any

from gymnasium.envs.registration import register, registry

from adiff_env.assets import asset_path

FETCH_EPISODE_STEPS = 50
FETCH_PRESETS: dict[str, dict[str, Any]] = {
    "adiff/FetchPush-v0": {"entry_point": "adiff_env.manipulation.env:AdiffFetchPushEnv"},
    "adiff/FetchPickAndPlace-v0": {"entry_point": "adiff_env.manipulation.env:AdiffFetchPickAndPlaceEnv"},
    "adiff/FetchPush-Avoid-v0": {"entry_point": "adiff_env.manipulation.env:AdiffFetchPushAvoidEnv"},
}
"""Registered Fetch ids and their env classes."""


def is_fetch_env(env: Any) -> bool:
    """Whether ``env`` (wrapped or not) is one of gymnasium-robotics' Fetch envs (ours included),
    without importing MuJoCo when it is not."""
    unwrapped = getattr(env, "unwrapped", env)
    return any(cls.__name__ in ("MujocoFetchEnv", "BaseFetchEnv") for cls in type(unwrapped).__mro__)


def load_fetch_references() -> dict[str, Any]:
    """Reference scores per id (and per goal region) from ``envs/manipulation/references.json``
    ({} if absent). Keys are env ids, or ``"adiff/FetchPickAndPlace-v0?goal_region=air"``."""
    path = asset_path("envs", "manipulation", "references.json")
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("envs", {})


def _register() -> None:
    refs = load_fetch_references()
    for env_id, preset in FETCH_PRESETS.items():
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point=preset["entry_point"],
            max_episode_steps=FETCH_EPISODE_STEPS,
            kwargs={"reference_scores": _refs_for(refs, env_id)},
        )


def _refs_for(refs: dict[str, Any], env_id: str) -> Any:
    """All entries of ``env_id`` (one per configuration); the env keeps the one matching its own."""
    entries = [v for k, v in refs.items() if k == env_id or k.startswith(env_id + "?")]
    return entries or None


_register()
