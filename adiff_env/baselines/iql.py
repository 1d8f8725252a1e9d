"""Implicit Q-learning (Kostrikov, Nair, Levine 2021), goal-conditioned.

With ``x = (s, g)`` and target critics ``Q_hat = min(Q1', Q2')``::

    L_V  = E[ |tau - 1(u < 0)| u^2 ],  u = Q_hat(x, a) - V(x)          (expectile regression)
    L_Q  = E[ (r + gamma (1 - d) V(x') - Q_i(x, a))^2 ],  i = 1, 2
    L_pi = -E[ min(exp(beta (Q_hat(x, a) - V(x))), w_max) log pi(a | x) ]   (advantage-weighted)

Hyperparameters from the paper's locomotion/maze setting: expectile 0.7, beta (inverse
temperature) 3.0, weights clipped at 100, Adam 3e-4, gamma 0.99, Polyak 0.005, 256 x 2 MLPs,
a Gaussian policy with state-independent std.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from adiff_env.baselines.config import OfflineConfig
from adiff_env.baselines.nets import DoubleQ, GaussianPolicy, ValueNet, polyak


@dataclass(frozen=True)
class IQLConfig(OfflineConfig):
    expectile: float = 0.7
    beta: float = 3.0
    max_weight: float = 100.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.expectile < 1.0:
            raise ValueError(f"expectile must be in (0, 1), got {self.expectile!r}.")


def expectile_loss(u: torch.Tensor, tau: float) -> torch.Tensor:
    """``mean(|tau - 1(u < 0)| u^2)``: tau = 0.5 is half the MSE; tau -> 1 approaches max."""
    weight = torch.where(u < 0, 1.0 - tau, tau)
    return (weight * u.square()).mean()


class IQLLearner:
    def __init__(self, inp: int, action_dim: int, cfg: IQLConfig, device: torch.device, generator: torch.Generator) -> None:
        self.cfg = cfg
        self.policy = GaussianPolicy(inp, action_dim, cfg.hidden, cfg.layers).to(device)
        self.q = DoubleQ(inp, action_dim, cfg.hidden, cfg.layers).to(device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.v = ValueNet(inp, cfg.hidden, cfg.layers).to(device)
        self.opt_pi = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=cfg.lr)
        self.opt_v = torch.optim.Adam(self.v.parameters(), lr=cfg.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "q": self.q, "q_target": self.q_target, "v": self.v}

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        x, a, r, nx, d = batch["x"], batch["action"], batch["reward"], batch["next_x"], batch["done"]
        with torch.no_grad():
            q_hat = self.q_target(x, a).min(0).values
        v = self.v(x)
        loss_v = expectile_loss(q_hat - v, cfg.expectile)
        self.opt_v.zero_grad(set_to_none=True)
        loss_v.backward()
        self.opt_v.step()

        with torch.no_grad():
            target = r + cfg.discount * (1.0 - d) * self.v(nx)
        loss_q = (self.q(x, a) - target).square().mean(1).sum()
        self.opt_q.zero_grad(set_to_none=True)
        loss_q.backward()
        self.opt_q.step()

        with torch.no_grad():
            weight = torch.exp(cfg.beta * (q_hat - v.detach())).clamp(max=cfg.max_weight)
        loss_pi = -(weight * self.policy.log_prob(x, a)).mean()
        self.opt_pi.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.opt_pi.step()
        polyak(self.q_target, self.q, cfg.tau)
        return {"loss/value": loss_v.item(), "loss/q": loss_q.item(), "loss/policy": loss_pi.item(), "v_mean": v.mean().item()}
