"""Inpainting conditioning: fixed entries of the trajectory (start state, goal, ...).

A conditioner is anything with ``apply(x: [B, H, D]) -> [B, H, D]``. :class:`Inpainting`
overwrites the masked entries with their values, ``x <- where(mask, values, x)``; the sampling
pipeline applies it to the initial noise, after every guidance and reverse step, and to the
final output, so the constraints hold *exactly* (bit for bit) in the returned plans. The
training objective applies the same object to ``x_t`` and leaves the fixed entries out of the
loss, so training and sampling see the same inputs.

Example — start state at index 0 and goal position (dims 0:2) pinned from index 40 on::

    cond = Inpainting.from_states(horizon=64, dim=4, states={0: s0})
    cond = cond.merge(Inpainting.from_states(64, 4, {j: goal for j in range(40, 64)}, dims=[0, 1]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Conditioner(Protocol):
    """Something that constrains a batch of trajectories ``[B, H, D] -> [B, H, D]``."""

    def apply(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Inpainting:
    """Fixed entries: ``mask`` (bool) and ``values`` (float), both ``[H, D]`` (shared by the
    batch) or ``[B, H, D]`` (one constraint per sample). Entries where ``mask`` is False are
    free; their ``values`` are ignored."""

    mask: torch.Tensor
    values: torch.Tensor

    def __post_init__(self) -> None:
        if self.mask.dtype != torch.bool:
            raise TypeError(f"Inpainting mask must be a bool tensor, got {self.mask.dtype}.")
        if self.mask.shape != self.values.shape or self.mask.ndim not in (2, 3):
            raise ValueError(
                "Inpainting mask and values must both be [H, D] or [B, H, D], got "
                f"{tuple(self.mask.shape)} and {tuple(self.values.shape)}."
            )

    @classmethod
    def from_states(
        cls,
        horizon: int,
        dim: int,
        states: Mapping[int, torch.Tensor | Sequence[float]],
        dims: Sequence[int] | slice | None = None,
        batch_size: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Inpainting:
        """Pin ``x[:, j, dims] = states[j]`` for each time index ``j`` (negative counts from
        the end). Each value is ``[len(dims)]`` (shared) or ``[B, len(dims)]``; ``dims``
        defaults to all ``D`` features. With ``batch_size`` or any batched value the result
        is ``[B, H, D]``, else ``[H, D]``."""
        feat = torch.arange(dim)[dims if dims is not None else slice(None)]
        vals = {}
        for j, v in states.items():
            if not -horizon <= int(j) < horizon:
                raise ValueError(f"time index {j} is outside the horizon [0, {horizon}).")
            vals[int(j) % horizon] = torch.as_tensor(v, dtype=dtype, device=device)
        batched = [v.shape[0] for v in vals.values() if v.ndim == 2]
        b = batch_size if batch_size is not None else (batched[0] if batched else None)
        shape = (horizon, dim) if b is None else (b, horizon, dim)
        mask = torch.zeros(shape, dtype=torch.bool, device=device)
        values = torch.zeros(shape, dtype=dtype, device=device)
        for j, v in vals.items():
            want = (len(feat),) if b is None else (b, len(feat))
            if v.shape[-1:] != (len(feat),) or (v.ndim == 2 and v.shape != want) or v.ndim > 2:
                raise ValueError(
                    f"value for time index {j} must have shape [{len(feat)}] or "
                    f"[B, {len(feat)}] (the pinned dims), got {tuple(v.shape)}."
                )
            mask[..., j, feat] = True
            values[..., j, feat] = v
        return cls(mask, values)

    def merge(self, other: Inpainting) -> Inpainting:
        """Both constraints; ``other`` wins where both pin an entry."""
        mask = self.mask | other.mask
        values = torch.where(other.mask, other.values, self.values.to(other.values.dtype))
        return Inpainting(mask, values)

    def to(self, device: torch.device | str) -> Inpainting:
        """A copy on ``device``."""
        return Inpainting(self.mask.to(device), self.values.to(device))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``where(mask, values, x)`` broadcast over the batch; shape-checked."""
        if x.shape[-2:] != self.mask.shape[-2:] or (
            self.mask.ndim == 3 and self.mask.shape[0] not in (1, x.shape[0])
        ):
            raise ValueError(
                f"Inpainting of shape {tuple(self.mask.shape)} does not fit trajectories of "
                f"shape {tuple(x.shape)}; build it with the sampler's horizon and dim."
            )
        return torch.where(self.mask.to(x.device), self.values.to(x.device, x.dtype), x)

    def free_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Float ``[B, H, D]``: 1 on free entries, 0 on pinned ones (for the loss)."""
        return (~self.mask).to(x.device, x.dtype).expand_as(x)
