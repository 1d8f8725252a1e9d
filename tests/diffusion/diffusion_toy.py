"""Toy problems with analytic denoisers, shared by the engine tests."""

from __future__ import annotations

import math

import torch
from torch import nn

from adiff_env.diffusion.prediction import prediction_target
from adiff_env.diffusion.schedules import NoiseSchedule


class AnalyticGMM(nn.Module):
    """The exact posterior-mean denoiser for x0 ~ sum_k pi_k N(mu_k, s^2 I) (per entry).

    Predicts E[x0 | x_t] and returns it as the requested ``prediction`` type, so it stands in
    for a perfectly trained model of any parameterisation.
    """

    def __init__(self, schedule: NoiseSchedule, means=(-2.0, 2.0), std=0.3, prediction="x0"):
        super().__init__()
        self.abar = schedule.alphas_cumprod().to(torch.float32)
        self.means = torch.tensor(means)
        self.std = std
        self.prediction = prediction
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, cond=None):
        a = self.abar[t].view(-1, 1, 1)
        mu = self.means.view(1, 1, 1, -1)
        var = a * self.std**2 + (1 - a)
        x = x_t[..., None]
        logw = -0.5 * (x - a.sqrt()[..., None] * mu) ** 2 / var[..., None]
        w = torch.softmax(logw, dim=-1)
        cond_mean = mu + (a.sqrt() * self.std**2 / var)[..., None] * (x - a.sqrt()[..., None] * mu)
        x0 = (w * cond_mean).sum(-1)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        return prediction_target(x0, eps, self.abar[t], self.prediction)


def gmm_moments(means=(-2.0, 2.0), std=0.3) -> tuple[float, float]:
    """Mean and variance of the equal-weight mixture."""
    m = sum(means) / len(means)
    second = sum(mu**2 for mu in means) / len(means) + std**2
    return m, second - m**2


__all__ = ["AnalyticGMM", "gmm_moments", "math"]
