"""A learned dynamics model ``s' = s + f(s, a)``, domain-agnostic (any state/action vectors).

Used by a domain's cheap consistency pre-screen (e.g. the maze's
:class:`~adiff_env.maze.filter.LearnedDynamicsFilter`): :func:`fit_dynamics` fits
:class:`DynamicsModel` on transitions, :func:`transitions_from_minari` reads them from a dataset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class DynamicsModel(nn.Module):
    """``s' = s + f(s, a)``: MLP on raw states ``[B, O]`` and actions ``[B, A]`` -> ``[B, O]``."""

    def __init__(self, obs_dim: int = 4, action_dim: int = 2, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + action_dim, hidden), nn.Mish(), nn.Linear(hidden, hidden), nn.Mish(),
                                 nn.Linear(hidden, obs_dim))

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return s + self.net(torch.cat([s, a], dim=-1))


def fit_dynamics(states: np.ndarray, actions: np.ndarray, next_states: np.ndarray, *, steps: int = 2000,
                 batch_size: int = 256, lr: float = 1e-3, hidden: int = 128, seed: int = 0) -> tuple[DynamicsModel, float]:
    """Fit :class:`DynamicsModel` on transitions ``[N, O], [N, A], [N, O]``; returns it and the
    final mean squared error."""
    s, a, s2 = (torch.as_tensor(np.asarray(x), dtype=torch.float32) for x in (states, actions, next_states))
    if not len(s) == len(a) == len(s2) or len(s) == 0:
        raise ValueError(f"transitions must be non-empty and aligned, got {len(s)}, {len(a)}, {len(s2)}.")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DynamicsModel(s.shape[1], a.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        idx = torch.randint(len(s), (min(batch_size, len(s)),), generator=gen)
        loss = nn.functional.mse_loss(model(s[idx], a[idx]), s2[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), float(loss.detach())


def transitions_from_minari(dataset: Any, obs_key: str = "observation") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(s, a, s')`` arrays from every episode of a Minari dataset (dict or array observations)."""
    out: tuple[list, list, list] = ([], [], [])
    for ep in dataset.iterate_episodes():
        obs = ep.observations[obs_key] if isinstance(ep.observations, dict) else ep.observations
        obs = np.asarray(obs)
        out[0].append(obs[:-1])
        out[1].append(np.asarray(ep.actions))
        out[2].append(obs[1:])
    return tuple(np.concatenate(x) for x in out)  # type: ignore[return-value]
