"""Episode filters for training on recorded data (domain-agnostic).

Collection labels every episode with the std of the Gaussian action noise it was recorded with
(``infos["noise_std"]``, one value per step; see :mod:`adiff_env.datasets.collect`). A noisy
episode's recorded actions are the noisy ones, so an imitation learner trained on them learns
the noise too; :func:`keep_episode` lets training keep only the episodes recorded with at most
a given noise (``max_noise_std=0.0``: the clean expert only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def episode_noise_std(episode: Any) -> float | None:
    """The action-noise std an episode was recorded with (``infos["noise_std"]``, its largest
    value over the steps), or None when the dataset does not label it."""
    infos = getattr(episode, "infos", None)
    if not isinstance(infos, dict) or "noise_std" not in infos:
        return None
    values = np.asarray(infos["noise_std"], dtype=np.float64).reshape(-1)
    return float(values.max()) if values.size else None


def check_max_noise_std(max_noise_std: float | None) -> None:
    """Raise ValueError unless ``max_noise_std`` is None or a finite number >= 0."""
    if max_noise_std is None:
        return
    if isinstance(max_noise_std, bool) or not isinstance(max_noise_std, (int, float)) or not (
            math.isfinite(max_noise_std) and max_noise_std >= 0):
        raise ValueError(f"max_noise_std must be None (keep every episode) or a finite number >= 0 "
                         f"(0.0: clean episodes only), got {max_noise_std!r}.")


def keep_episode(episode: Any, max_noise_std: float | None) -> bool:
    """Whether to train on ``episode``: always when ``max_noise_std`` is None, else when its
    label is at most ``max_noise_std``. An unlabelled episode with a limit set raises ValueError
    (the filter would silently keep noisy data)."""
    if max_noise_std is None:
        return True
    noise = episode_noise_std(episode)
    if noise is None:
        raise ValueError("max_noise_std is set but the dataset's episodes carry no infos['noise_std'] label; "
                         "re-collect it with `adiff datasets collect` or leave max_noise_std unset.")
    return noise <= max_noise_std + 1e-12
