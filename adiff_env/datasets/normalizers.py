"""Per-dimension normalizers for trajectory data, saved as JSON (never pickle).

Two kinds, both fitted on an array ``x`` of shape ``[N, D]`` (one row per step, one column
per dimension) and applied to any array or tensor whose last axis has size ``D``:

- ``minmax`` (Diffuser's ``LimitsNormalizer``): ``y = 2 (x - low) / (high - low) - 1`` maps
  the fitted range onto ``[-1, 1]``; ``x = (y + 1) / 2 (high - low) + low``.
- ``gaussian`` (z-score): ``y = (x - mean) / std``; ``x = y std + mean``.

A constant dimension (``high == low`` or ``std == 0``) gets scale 1 instead of a division by
zero: minmax maps it to -1, gaussian to 0, and both round-trip it exactly.

``normalize``/``unnormalize`` accept ``numpy.ndarray`` or ``torch.Tensor`` (any leading shape,
any device); the result has the input's type, dtype and device.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from adiff_env.errors import UnknownNameError

FORMAT_VERSION = 1


def _as_2d(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"Normalizers are fitted on an array of shape [N, D] with N >= 1, got shape "
            f"{arr.shape}; reshape to (-1, D) first."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("Cannot fit a normalizer on data with NaN or inf values; clean the data first.")
    return arr


def _params_like(params: np.ndarray, x: Any) -> Any:
    """``params`` in the type/dtype/device of ``x`` for broadcasting over its last axis."""
    dim = params.shape[0]
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"Expected a numpy.ndarray or torch.Tensor, got {type(x).__name__}.")
    if x.shape[-1] != dim:
        raise ValueError(
            f"Normalizer was fitted on {dim} dimensions but the input's last axis has size "
            f"{x.shape[-1]} (shape {tuple(x.shape)}); pass data with shape [..., {dim}]."
        )
    if isinstance(x, np.ndarray):
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return params.astype(dtype)
    import torch

    if isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.float32
        return torch.as_tensor(params, dtype=dtype, device=x.device)
    raise TypeError(f"Expected a numpy.ndarray or torch.Tensor, got {type(x).__name__}.")


@dataclass(frozen=True, eq=False)
class MinMaxNormalizer:
    """Map ``[low, high]`` per dimension onto ``[-1, 1]``.

    ``low``, ``high``: shape ``[D]``. Constant dimensions (``high == low``) use scale 1, so a
    value equal to ``low`` maps to -1 and round-trips exactly.
    """

    low: np.ndarray
    high: np.ndarray
    kind: ClassVar[str] = "minmax"

    @classmethod
    def fit(cls, x: np.ndarray) -> MinMaxNormalizer:
        """Fit on ``x`` of shape ``[N, D]``."""
        arr = _as_2d(x)
        return cls(low=arr.min(axis=0), high=arr.max(axis=0))

    @property
    def _scale(self) -> np.ndarray:
        span = np.asarray(self.high, dtype=np.float64) - np.asarray(self.low, dtype=np.float64)
        return np.where(span > 0, span, 1.0)

    def normalize(self, x: Any) -> Any:
        """``y = 2 (x - low) / (high - low) - 1``; shape ``[..., D]`` in, same shape out."""
        low, scale = _params_like(np.asarray(self.low, np.float64), x), _params_like(self._scale, x)
        return 2.0 * (x - low) / scale - 1.0

    def unnormalize(self, y: Any) -> Any:
        """``x = (y + 1) / 2 (high - low) + low``; inverse of :meth:`normalize`."""
        low, scale = _params_like(np.asarray(self.low, np.float64), y), _params_like(self._scale, y)
        return (y + 1.0) / 2.0 * scale + low

    def to_dict(self) -> dict:
        return {"kind": self.kind, "low": _floats(self.low), "high": _floats(self.high)}


@dataclass(frozen=True, eq=False)
class GaussianNormalizer:
    """Z-score per dimension: ``y = (x - mean) / std`` (``std == 0`` is replaced by 1)."""

    mean: np.ndarray
    std: np.ndarray
    kind: ClassVar[str] = "gaussian"

    @classmethod
    def fit(cls, x: np.ndarray) -> GaussianNormalizer:
        """Fit on ``x`` of shape ``[N, D]`` (population std, ``ddof=0``)."""
        arr = _as_2d(x)
        return cls(mean=arr.mean(axis=0), std=arr.std(axis=0))

    @property
    def _scale(self) -> np.ndarray:
        std = np.asarray(self.std, dtype=np.float64)
        return np.where(std > 0, std, 1.0)

    def normalize(self, x: Any) -> Any:
        """``y = (x - mean) / std``; shape ``[..., D]`` in, same shape out."""
        mean, scale = _params_like(np.asarray(self.mean, np.float64), x), _params_like(self._scale, x)
        return (x - mean) / scale

    def unnormalize(self, y: Any) -> Any:
        """``x = y std + mean``; inverse of :meth:`normalize`."""
        mean, scale = _params_like(np.asarray(self.mean, np.float64), y), _params_like(self._scale, y)
        return y * scale + mean

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mean": _floats(self.mean), "std": _floats(self.std)}


Normalizer = MinMaxNormalizer | GaussianNormalizer
NORMALIZERS: dict[str, type[MinMaxNormalizer] | type[GaussianNormalizer]] = {
    "minmax": MinMaxNormalizer,
    "gaussian": GaussianNormalizer,
}


def _floats(values: np.ndarray) -> list[float]:
    # JSON keeps float64 exactly via repr round-trip.
    return [float(v) for v in np.asarray(values, dtype=np.float64)]


def fit_normalizer(kind: str, x: np.ndarray) -> Normalizer:
    """Fit the normalizer named ``kind`` (``"minmax"`` or ``"gaussian"``) on ``x`` ``[N, D]``."""
    if kind not in NORMALIZERS:
        raise UnknownNameError("normalizer", kind, NORMALIZERS)
    return NORMALIZERS[kind].fit(x)


def normalizer_from_dict(data: dict) -> Normalizer:
    """Rebuild a normalizer from :meth:`to_dict` output (validated)."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"A normalizer dict needs a 'kind' key, got {data!r:.200}.")
    kind = data["kind"]
    if kind not in NORMALIZERS:
        raise UnknownNameError("normalizer", str(kind), NORMALIZERS)
    keys = ("low", "high") if kind == "minmax" else ("mean", "std")
    arrays = []
    for key in keys:
        if key not in data:
            raise ValueError(f"The {kind} normalizer dict lacks {key!r}; it has {sorted(data)}.")
        arr = np.asarray(data[key], dtype=np.float64)
        if arr.ndim != 1 or not all(math.isfinite(v) for v in arr):
            raise ValueError(f"Normalizer {key!r} must be a list of finite numbers, got {data[key]!r:.200}.")
        arrays.append(arr)
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"Normalizer {keys[0]!r} and {keys[1]!r} differ in length: "
            f"{arrays[0].shape[0]} vs {arrays[1].shape[0]}."
        )
    return NORMALIZERS[kind](*arrays)


def save_normalizer(normalizer: Normalizer, path: str | os.PathLike) -> Path:
    """Write ``normalizer`` as JSON to ``path`` atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **normalizer.to_dict()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_normalizer(path: str | os.PathLike) -> Normalizer:
    """Read a normalizer saved by :func:`save_normalizer`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No normalizer file at {path}.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"Normalizer file {path} is not valid JSON ({exc}).") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(
            f"Normalizer file {path} has format_version {version!r}; this code reads "
            f"{FORMAT_VERSION}. Re-fit and save the normalizer with this version."
        )
    return normalizer_from_dict({k: v for k, v in data.items() if k != "format_version"})
