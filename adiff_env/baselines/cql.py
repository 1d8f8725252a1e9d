"""Conservative Q-learning, CQL(H) on SAC (Kumar, Zhou, Tucker, Levine 2020), goal-conditioned.

SAC with automatic entropy tuning (target entropy ``-A``) plus, for each critic ``Q_i``::

    L_cql = alpha * E_x[ logsumexp_{a ~ mu} (Q_i(x, a) - log mu(a)) - Q_i(x, a_data) ]

with ``mu`` the importance-sampled mixture of ``n`` uniform actions (``log mu = -A log 2``) and
``n`` policy actions at ``x`` and at ``x'`` (their log-densities), as in the authors' code.
Hyperparameters from the paper: alpha (``cql_alpha``) 5.0, 10 action samples, critic Adam
3e-4, policy Adam 1e-4, gamma 0.99, Polyak 0.005, 256 x 2 MLPs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from adiff_env.baselines.config import OfflineConfig
from adiff_env.baselines.nets import DoubleQ, TanhGaussianPolicy, polyak


@dataclass(frozen=True)
class CQLConfig(OfflineConfig):
    policy_lr: float = 1e-4
    cql_alpha: float = 5.0
    n_action_samples: int = 10


class CQLLearner:
    def __init__(self, inp: int, action_dim: int, cfg: CQLConfig, device: torch.device, generator: torch.Generator) -> None:
        self.cfg, self.action_dim, self.gen, self.device = cfg, action_dim, generator, device
        self.policy = TanhGaussianPolicy(inp, action_dim, cfg.hidden, cfg.layers).to(device)
        self.q = DoubleQ(inp, action_dim, cfg.hidden, cfg.layers).to(device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.log_alpha = torch.zeros((), device=device, requires_grad=True)
        self.opt_pi = torch.optim.Adam(self.policy.parameters(), lr=cfg.policy_lr)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=cfg.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=cfg.policy_lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "q": self.q, "q_target": self.q_target}

    def _penalty_and_q_data(self, x: torch.Tensor, nx: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(penalty [2], Q_i(x, a_data) [2, B])``: every critic value of the penalty in one call.

        The ``3n`` sampled actions and the data action of each state go through the critics
        together (:meth:`DoubleQ.many`, ``[B, 3n + 1, A]``); the policy runs once per state
        (``sample(..., repeats=n)``). Random draws in the order uniform, ``pi(.|x)``,
        ``pi(.|x')``, so the values equal the per-block form with ``repeat_interleave``d states."""
        n, B, A = self.cfg.n_action_samples, x.shape[0], self.action_dim
        uniform = torch.rand((B * n, A), generator=self.gen, device=self.device) * 2 - 1
        with torch.no_grad():
            a_pi, logp_pi = self.policy.sample(x, self.gen, repeats=n)
            a_next, logp_next = self.policy.sample(nx, self.gen, repeats=n)
        actions = torch.cat([uniform.view(B, n, A), a_pi.view(B, n, A), a_next.view(B, n, A), a.unsqueeze(1)], dim=1)
        q = self.q.many(x, actions)  # [2, B, 3n + 1]
        # importance weights: uniform density on [-1, 1]^A is 2^-A; the policy's own log-densities
        log_mu = torch.cat([torch.full((B, n), -A * math.log(2.0), device=x.device), logp_pi.view(B, n),
                            logp_next.view(B, n)], dim=1)  # [B, 3n]
        q_data = q[..., -1]
        penalty = torch.logsumexp(q[..., :-1] - log_mu, dim=-1).mean(-1) - q_data.mean(-1)
        return penalty, q_data

    def conservative_penalty(self, x: torch.Tensor, nx: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``[2]``: per critic, ``E[logsumexp(Q - log mu)] - E[Q(x, a_data)]``."""
        return self._penalty_and_q_data(x, nx, a)[0]

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        x, a, r, nx, d = batch["x"], batch["action"], batch["reward"], batch["next_x"], batch["done"]
        alpha = self.log_alpha.exp().detach()

        a_pi, logp = self.policy.sample(x, self.gen)
        self.q.requires_grad_(False)  # the critics' own gradients from this loss were discarded anyway
        loss_pi = (alpha * logp - self.q(x, a_pi).min(0).values).mean()
        self.opt_pi.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.q.requires_grad_(True)
        self.opt_pi.step()
        loss_alpha = -(self.log_alpha * (logp.detach() - self.action_dim)).mean()
        self.opt_alpha.zero_grad(set_to_none=True)
        loss_alpha.backward()
        self.opt_alpha.step()

        with torch.no_grad():
            a_next, logp_next = self.policy.sample(nx, self.gen)
            q_next = self.q_target(nx, a_next).min(0).values - alpha * logp_next
            target = r + cfg.discount * (1.0 - d) * q_next
        penalty, q_data = self._penalty_and_q_data(x, nx, a)
        loss_td = (q_data - target).square().mean(1).sum()
        loss_q = loss_td + cfg.cql_alpha * penalty.sum()
        self.opt_q.zero_grad(set_to_none=True)
        loss_q.backward()
        self.opt_q.step()
        polyak(self.q_target, self.q, cfg.tau)
        return {"loss/q_td": loss_td.item(), "loss/cql": penalty.mean().item(), "loss/policy": loss_pi.item(), "alpha": alpha.item()}
