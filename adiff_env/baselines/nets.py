"""Small networks shared by the offline baselines (BC, IQL, CQL).

All take one flat input ``x = [observation, goal]`` of shape ``[B, I]`` and normalize it
inside (:class:`InputNorm`, saved with the weights), so a checkpoint acts on raw env values.
Actions live in ``[-1, 1]^A`` (PointMaze's action box).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(inp: int, out: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``: ``[B, inp] -> [B, out]``."""
    mods: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, out))
    return nn.Sequential(*mods)


class InputNorm(nn.Module):
    """``(x - mean) / std`` with fixed buffers ``mean``, ``std`` of shape ``[I]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class DeterministicPolicy(nn.Module):
    """``a = tanh(mlp(norm(x)))``, ``[B, I] -> [B, A]`` (behaviour cloning)."""

    def __init__(self, inp: int, action_dim: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.norm = InputNorm(inp)
        self.net = mlp(inp, action_dim, hidden, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.norm(x)))

    def act(self, x: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        return self(x)


class GaussianPolicy(nn.Module):
    """IQL's policy: ``N(tanh(mlp(x)), diag(exp(log_std)))`` with a state-independent ``log_std [A]``.
    ``act(deterministic=True)`` is the mean; samples are clipped to ``[-1, 1]``."""

    def __init__(self, inp: int, action_dim: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.norm = InputNorm(inp)
        self.net = mlp(inp, action_dim, hidden, layers)
        self.log_std = nn.Parameter(torch.zeros(action_dim))

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(self.norm(x)))

    def log_prob(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``log N(action; mean(x), std^2)`` summed over action dims: ``[B]``."""
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        z = (action - self.mean(x)) / log_std.exp()
        return (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def act(self, x: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        mean = self.mean(x)
        if deterministic:
            return mean
        std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return (mean + std * noise).clamp(-1.0, 1.0)


class TanhGaussianPolicy(nn.Module):
    """SAC/CQL's policy: ``a = tanh(u)``, ``u ~ N(mu(x), sigma(x)^2)``; the log-density carries
    the tanh correction ``- sum log(1 - tanh(u)^2)``."""

    def __init__(self, inp: int, action_dim: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.norm = InputNorm(inp)
        self.net = mlp(inp, 2 * action_dim, hidden, layers)

    def _dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self.net(self.norm(x)).chunk(2, dim=-1)
        return mu, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(
        self, x: torch.Tensor, generator: torch.Generator | None = None, repeats: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterized ``(action [B * repeats, A], log_prob [B * repeats])``.

        ``repeats = n`` draws ``n`` actions per state, rows ordered as ``x.repeat_interleave(n, 0)``
        (one state's ``n`` samples contiguous), with the network run once per state: the same
        draws as ``sample(x.repeat_interleave(n, 0))`` at ``1 / n`` of the network's cost."""
        mu, log_std = self._dist(x)
        if repeats != 1:
            mu, log_std = mu.repeat_interleave(repeats, dim=0), log_std.repeat_interleave(repeats, dim=0)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        u = mu + log_std.exp() * noise
        a = torch.tanh(u)
        logp = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - nn.functional.softplus(-2 * u))).sum(-1)
        return a, logp

    def act(self, x: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        if deterministic:
            return torch.tanh(self._dist(x)[0])
        return self.sample(x, generator)[0]


class DoubleQ(nn.Module):
    """Two critics ``Q_i(x, a)``: ``[B, I], [B, A] -> [2, B]``."""

    def __init__(self, inp: int, action_dim: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.norm = InputNorm(inp)
        self.q1 = mlp(inp + action_dim, 1, hidden, layers)
        self.q2 = mlp(inp + action_dim, 1, hidden, layers)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        h = torch.cat([self.norm(x), a], dim=-1)
        return torch.stack([self.q1(h).squeeze(-1), self.q2(h).squeeze(-1)])

    def many(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``Q_i(x_b, a_bk)`` for ``m`` actions per state: ``[B, I], [B, m, A] -> [2, B, m]``.

        Equals ``forward(x.repeat_interleave(m, 0), a.flatten(0, 1)).view(2, B, m)``, but the
        first layer's state half ``W_x norm(x) + b`` is computed once per state and broadcast
        over the ``m`` actions (``W = [W_x | W_a]``), which saves ~10% of the critic's work at
        ``m = 31`` (CQL's penalty) and the ``[B * m, I]`` copy of the states."""
        B, m, _ = a.shape
        h = self.norm(x)
        out = []
        for net in (self.q1, self.q2):
            first = net[0]
            if not isinstance(first, nn.Linear):
                raise TypeError(f"DoubleQ.many expects an nn.Linear first layer, got {type(first).__name__}.")
            w_x, w_a = first.weight[:, : h.shape[1]], first.weight[:, h.shape[1]:]
            z = (nn.functional.linear(h, w_x, first.bias).unsqueeze(1) + a @ w_a.T).flatten(0, 1)  # [B * m, H]
            out.append(net[1:](z).view(B, m))
        return torch.stack(out)


class ValueNet(nn.Module):
    """``V(x)``: ``[B, I] -> [B]`` (IQL)."""

    def __init__(self, inp: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.norm = InputNorm(inp)
        self.net = mlp(inp, 1, hidden, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x)).squeeze(-1)


@torch.no_grad()
def polyak(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source`` (parameters only)."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.mul_(1.0 - tau).add_(s, alpha=tau)
