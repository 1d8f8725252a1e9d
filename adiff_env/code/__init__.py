"""The code domain: the ``adiff/CodeTests-v0`` env, task suites, the program tokenizer and
corpus, the masked-diffusion coder and its training, candidate selection and the evolve domain.

Importing this package registers the env id and nothing heavier (no torch, no docker).
"""

from gymnasium.envs.registration import register, registry

if "adiff/CodeTests-v0" not in registry:
    register(id="adiff/CodeTests-v0", entry_point="adiff_env.code.env:CodeTestsEnv")
