"""Dataclass configs to and from JSON dicts, with errors that name the bad keys."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys or bad values raise ``ValueError``.

    Lists become tuples for tuple-typed fields (JSON has no tuples).
    """
    from adiff_env import config

    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} config must be a JSON object, got {type(data).__name__}.")
    return config.from_dict(cls, data, f"{cls.__name__} config")


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a dataclass config (tuples become lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }
