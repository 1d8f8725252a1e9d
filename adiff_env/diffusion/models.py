"""Architecture names -> (module class, config dataclass), to rebuild networks from JSON.

A saved network is ``{"arch": NAME, "config": {...}}`` next to its weights; no class paths
in strings, no pickles. :func:`model_spec` writes that dict, :func:`build_model` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from adiff_env.diffusion._config import config_from_dict, config_to_dict
from adiff_env.diffusion.transformer import TransformerConfig, TransformerDenoiser
from adiff_env.diffusion.unet import TemporalUNet, UNetConfig
from adiff_env.diffusion.value import ValueNet, ValueNetConfig
from adiff_env.errors import CheckpointError, UnknownNameError

ARCHITECTURES: dict[str, tuple[type[nn.Module], type]] = {
    "temporal_unet": (TemporalUNet, UNetConfig),
    "transformer": (TransformerDenoiser, TransformerConfig),
    "value_net": (ValueNet, ValueNetConfig),
}


def build_model(spec: dict[str, Any]) -> nn.Module:
    """Build an untrained network from ``{"arch": NAME, "config": {...}}``."""
    if not isinstance(spec, dict) or "arch" not in spec or "config" not in spec:
        raise ValueError(
            f"a model spec is {{'arch': NAME, 'config': {{...}}}}, got {spec!r}."
        )
    arch = spec["arch"]
    if arch not in ARCHITECTURES:
        raise UnknownNameError("architecture", str(arch), ARCHITECTURES)
    cls, config_cls = ARCHITECTURES[arch]
    return cls(config_from_dict(config_cls, spec["config"]))


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``{"arch": NAME, "config": {...}}`` for a network built from one of :data:`ARCHITECTURES`."""
    for arch, (cls, _) in ARCHITECTURES.items():
        if type(model) is cls:
            return {"arch": arch, "config": config_to_dict(model.config)}
    raise TypeError(
        f"{type(model).__name__} is not a known architecture; known: {sorted(ARCHITECTURES)}."
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def prefixed_state(model: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with keys ``prefix + key``, to store several networks (denoiser,
    value net, inverse dynamics) in one safetensors file."""
    return {prefix + k: v for k, v in model.state_dict().items()}


def tensors_under(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` stored under ``prefix`` (see :func:`prefixed_state`), prefix removed."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_weights(module: nn.Module, tensors: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``module.load_state_dict(tensors)`` with an error naming missing, unexpected and
    mis-shaped entries instead of PyTorch's generic one."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items() if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes[:5]))
        raise CheckpointError(
            f"{source} does not fit {type(module).__name__} ({', '.join(parts)}); the config "
            "and weights come from different models."
        )
    module.load_state_dict(dict(tensors))


def load_prefixed(module: nn.Module, tensors: Mapping[str, torch.Tensor], prefix: str, source: str = "checkpoint") -> nn.Module:
    """Load the weights stored under ``prefix`` into ``module`` (:func:`load_weights`); returns it."""
    load_weights(module, tensors_under(tensors, prefix), f"{source} (weights under prefix {prefix!r})" if prefix else source)
    return module


def load_model(spec: dict[str, Any], tensors: Mapping[str, torch.Tensor], prefix: str = "", source: str = "checkpoint") -> nn.Module:
    """Rebuild a network from its spec and load the tensors stored under ``prefix``; errors
    name missing, unexpected and mis-shaped entries (:func:`load_weights`)."""
    return load_prefixed(build_model(spec), tensors, prefix, source)
