"""adiff-env: diffusion planners in Gymnasium environments.

``import adiff_env`` registers every env id (``adiff/PointMaze-*``, ``adiff/Fetch*``, ``adiff/CodeTests-v0``)
with Gymnasium, as gymnasium-robotics and ale-py do, so ``gym.register_envs(adiff_env)`` works.
It imports no torch: the domains' ``__init__`` files only register ids by entry-point string.
"""

__version__ = "0.1.0"

from adiff_env import code, manipulation, maze  # noqa: E402,F401  (registers the env ids)
