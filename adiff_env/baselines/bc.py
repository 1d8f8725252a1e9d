"""Goal-conditioned behaviour cloning: ``min E ||pi(s, g) - a||^2`` over relabelled data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from adiff_env.baselines.config import OfflineConfig
from adiff_env.baselines.nets import DeterministicPolicy


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Behaviour cloning (MSE on actions); ``lr`` 1e-3."""

    lr: float = 1e-3


class BCLearner:
    """One MSE step per :meth:`update`. ``modules()`` are what a checkpoint stores."""

    def __init__(self, inp: int, action_dim: int, cfg: BCConfig, device: torch.device, generator: torch.Generator) -> None:
        self.policy = DeterministicPolicy(inp, action_dim, cfg.hidden, cfg.layers).to(device)
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy}

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        loss = (self.policy(batch["x"]) - batch["action"]).square().sum(-1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss/policy": loss.item()}
