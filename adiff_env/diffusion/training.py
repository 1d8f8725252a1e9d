"""Generic training helpers: EMA of weights, AdamW with warmup + cosine LR, one train step.

The training CLI (data, logging, checkpoints) lives elsewhere; these are its parts::

    ema = EMA(model, decay=0.995)
    trainer = TrainStep(model, OptimConfig(lr=2e-4, warmup_steps=500, total_steps=20_000), ema=ema)
    for batch in loader:
        loss = trainer(lambda: objective(model, batch, generator=g).loss)
    ema.copy_to(eval_model)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    ``shadow <- decay * shadow + (1 - decay) * param`` on each :meth:`update` after
    ``start_step`` updates (before that the shadow copies the model, as Diffuser's
    ``step_start_ema``). ``shadow`` is a frozen deep copy usable as a model (``ema.shadow``).
    """

    def __init__(self, model: nn.Module, decay: float = 0.995, start_step: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}; 0.995 is typical.")
        self.decay = decay
        self.start_step = start_step
        self.num_updates = 0
        self.shadow = copy.deepcopy(model).eval()
        self.shadow.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        self.num_updates += 1
        decay = self.decay if self.num_updates > self.start_step else 0.0
        src = model.state_dict()
        for name, value in self.shadow.state_dict().items():
            new = src[name]
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(new.detach(), alpha=1.0 - decay)
            else:
                value.copy_(new)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model`` (same architecture)."""
        model.load_state_dict(self.shadow.state_dict())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights (a model ``state_dict``)."""
        return self.shadow.state_dict()


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup to ``lr`` over ``warmup_steps`` then cosine decay to
    ``lr * min_lr_ratio`` at ``total_steps`` (constant after); ``grad_clip`` max grad norm
    (None: off)."""

    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 500
    total_steps: int = 100_000
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.warmup_steps < 0 or self.total_steps < 1:
            raise ValueError(
                f"OptimConfig needs lr > 0, warmup_steps >= 0, total_steps >= 1; got {self.lr}, "
                f"{self.warmup_steps}, {self.total_steps}."
            )


def lr_factor(step: int, config: OptimConfig) -> float:
    """Multiplier of ``config.lr`` at optimizer step ``step`` (0-based)."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(config.total_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / span, 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


class TrainStep:
    """One optimisation step: zero grads, ``loss_fn()``, backward, clip, AdamW, LR schedule,
    EMA. ``__call__(loss_fn) -> float`` loss. ``state_dict``/``load_state_dict`` cover the
    optimizer, scheduler and step count for resuming."""

    def __init__(self, model: nn.Module, config: OptimConfig, ema: EMA | None = None) -> None:
        self.model = model
        self.config = config
        self.ema = ema
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=config.lr,
            betas=config.betas,
            weight_decay=config.weight_decay,
        )
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, config)
        )
        self.step = 0

    def __call__(self, loss_fn: Callable[[], torch.Tensor]) -> float:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {loss.item()} at step {self.step}; lower the learning rate "
                "or check the data normalisation."
            )
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.lr_scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        return float(loss.detach())

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.step = int(state["step"])
