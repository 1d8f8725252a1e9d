"""What a denoiser predicts, and conversions between the parameterisations.

With ``x_t = sqrt(abar) x0 + sqrt(1 - abar) eps`` (``abar = alphas_cumprod[t]``):

- ``"epsilon"``: the model predicts the noise ``eps``;
- ``"x0"``:      the model predicts the clean sample ``x0`` (Diffuser's maze setting);
- ``"v"``:       the model predicts ``v = sqrt(abar) eps - sqrt(1 - abar) x0`` (Salimans & Ho).

The schedulers convert any of them to ``(x0, eps)``, so one trained model samples with DDPM or
DDIM alike; the training objective uses :func:`prediction_target` for the regression target.
"""

from __future__ import annotations

from typing import Literal

import torch

from adiff_env.errors import UnknownNameError

PredictionType = Literal["epsilon", "x0", "v"]
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "x0", "v")


def check_prediction_type(prediction: str) -> str:
    """Return ``prediction`` or raise :class:`UnknownNameError` listing the valid ones."""
    if prediction not in PREDICTION_TYPES:
        raise UnknownNameError("prediction type", str(prediction), PREDICTION_TYPES)
    return prediction


def _bcast(a: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor | float:
    """A per-sample ``[B]`` coefficient becomes ``[B, 1, 1]``; scalars stay scalars."""
    if isinstance(a, torch.Tensor) and a.ndim == 1:
        return a.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))
    return a


def to_x0_eps(
    output: torch.Tensor, x_t: torch.Tensor, abar: torch.Tensor | float, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert a model output ``[B, H, D]`` to ``(x0, eps)`` given ``x_t`` and ``abar``.

    ``abar`` is a float (one step for the batch) or a ``[B]`` tensor.
    """
    a = _bcast(abar, x_t)
    sa, s1 = a**0.5, (1 - a) ** 0.5
    if prediction == "epsilon":
        return (x_t - s1 * output) / sa, output
    if prediction == "x0":
        return output, (x_t - sa * output) / s1
    if prediction == "v":
        return sa * x_t - s1 * output, s1 * x_t + sa * output
    raise UnknownNameError("prediction type", str(prediction), PREDICTION_TYPES)


def x0_to_output(x0: torch.Tensor, x_t: torch.Tensor, abar: torch.Tensor | float, prediction: str) -> torch.Tensor:
    """The model output of type ``prediction`` that :func:`to_x0_eps` turns back into ``x0``
    at this ``x_t`` (``eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)``): lets x0-space guidance
    hand an edited ``x0`` to any scheduler, whatever the model predicts."""
    if prediction == "x0":
        return x0
    a = _bcast(abar, x_t)
    eps = (x_t - a**0.5 * x0) / (1 - a) ** 0.5
    return prediction_target(x0, eps, abar, prediction)


def prediction_target(
    x0: torch.Tensor, eps: torch.Tensor, abar: torch.Tensor | float, prediction: str
) -> torch.Tensor:
    """The regression target for ``prediction`` given ``x0``, ``eps`` and ``abar``."""
    if prediction == "epsilon":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        a = _bcast(abar, x0)
        return a**0.5 * eps - (1 - a) ** 0.5 * x0
    raise UnknownNameError("prediction type", str(prediction), PREDICTION_TYPES)


def randn(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise of ``shape`` with ``like``'s dtype and device, drawn from
    ``generator`` on the generator's own device (so a CPU generator seeds CUDA runs too)."""
    gen_device = generator.device if generator is not None else like.device
    out = torch.randn(shape, generator=generator, device=gen_device, dtype=like.dtype)
    return out.to(like.device)
