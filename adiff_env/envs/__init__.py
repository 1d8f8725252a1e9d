"""Gymnasium environments of adiff-env; importing this module registers the ``adiff/`` ids."""

from gymnasium.envs.registration import register, registry

if "adiff/CodeTests-v0" not in registry:
    register(
        id="adiff/CodeTests-v0",
        entry_point="adiff_env.envs.code:CodeTestsEnv",
    )
