"""Torch device names checked once, before any work: a device this machine lacks is a clear error."""

from __future__ import annotations

import torch

from adiff_env.errors import ConfigError


def check_device(device: str) -> torch.device:
    """``device`` as a :class:`torch.device`; a CUDA/MPS device this machine lacks is a clear error."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"Unknown torch device {device!r} (e.g. cpu, cuda, cuda:1, mps).") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device!r}: this machine has no CUDA GPU torch can use; use --device cpu.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here.")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {device!r}: MPS is not available on this machine; use --device cpu.")
    return dev
