"""Faster denoiser forwards for acting: at batch 1 on a CPU a small U-Net is Python-bound.

A one-step plan of the 252k-parameter maze student runs ~200 ``nn.Module`` calls (~50 convs,
~40 Mish, ~25 GroupNorm, the time MLPs) on tensors of a few thousand entries, so the
interpreter's dispatch costs about as much as the kernels. :func:`accelerate` wraps a denoiser
so its forward runs without that overhead where it can:

- ``"none"``: the model itself (the default everywhere).
- ``"trace"``: :class:`TracedDenoiser`, a TorchScript graph of the forward, traced and frozen
  once per input signature (shapes, dtypes, device, with or without ``cond``) and replayed
  after. The same ATen ops run in the same order, so the output is bit for bit the model's on
  CPU (``tests/diffusion/test_inference.py`` checks it); measured ~2x on the maze student's
  forward at batch 1 (``docs/guidance-and-distillation.md``, "Speed"). The graph snapshots the
  weights: a change to any parameter (an optimizer step, ``load_state_dict``) is seen through
  the tensors' version counters and the graphs are traced again (a parameter *replaced* by a new
tensor is not: build a new wrapper then).

The wrapper falls back to the plain model whenever it could differ from it: in training mode,
with gradients enabled (DPS guidance differentiates through the model), or with a ``t`` that is
not a tensor. A trace is only valid for a forward without data-dependent Python branches; the
U-Net and the transformer here branch only on shapes and on ``cond is None``, which key the
cache. ``torch.jit`` is deprecated upstream in favour of ``torch.compile``; ``torch.compile``
was measured here too (docs, same section) and did not pay at batch 1 on this CPU.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from adiff_env.errors import UnknownNameError

ACCELERATIONS: tuple[str, ...] = ("none", "trace")


def accelerate(model: nn.Module, mode: str = "none") -> nn.Module:
    """``model`` (``"none"``) or a :class:`TracedDenoiser` around it (``"trace"``); both take
    ``(x_t [B, H, D], t [B], cond [B, C] | None)`` and return ``[B, H, D]``."""
    if mode not in ACCELERATIONS:
        raise UnknownNameError("denoiser acceleration", str(mode), ACCELERATIONS)
    return model if mode == "none" else TracedDenoiser(model)


class TracedDenoiser(nn.Module):
    """``model``'s forward replayed from frozen TorchScript graphs, one per input signature.

    ``model`` stays a submodule (``.model``), so ``eval()``/``train()``/``parameters()`` act on
    it and :func:`~adiff_env.diffusion.pipeline.sample` handles the wrapper like the model.
    ``graphs`` counts the signatures traced so far.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)  # a new Module is in training mode: take the model's
        self._params = list(model.parameters())  # walked once: a parameter replaced later is not seen
        self._graphs: dict[tuple[Any, ...], Any] = {}
        self._weights: tuple[int, ...] = ()

    @property
    def graphs(self) -> int:
        return len(self._graphs)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.model.training or torch.is_grad_enabled() or not isinstance(t, torch.Tensor):
            return self.model(x_t, t, cond)
        weights = tuple(p._version for p in self._params)
        if weights != self._weights:
            self._graphs, self._weights = {}, weights
        key = (_sig(x_t), _sig(t), None if cond is None else _sig(cond))
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = self._trace(x_t, t, cond)
        return graph(x_t, t) if cond is None else graph(x_t, t, cond)

    def _trace(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> Any:
        # example inputs outside inference mode (inference tensors cannot enter a trace's constants)
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jit's FutureWarning and the shape-branch TracerWarnings
            example = tuple(a.clone() for a in (x_t, t) + (() if cond is None else (cond,)))
            traced = torch.jit.trace(self.model, example, check_trace=False)
            return torch.jit.freeze(traced.eval())


def _sig(x: torch.Tensor) -> tuple[Any, ...]:
    return tuple(x.shape), x.dtype, x.device
