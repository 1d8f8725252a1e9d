"""A smooth penalty for positions near or inside axis-aligned boxes (walls, forbidden zones),
shared by the maze rewards (:mod:`adiff_env.maze.rewards`) and the cell rewards (:mod:`adiff_env.maze.zones`)."""

from __future__ import annotations

import numpy as np
import torch


def box_penalty(p: torch.Tensor, boxes: np.ndarray, margin: float) -> torch.Tensor:
    """``sum_t sum_w relu(margin - sd_w(p_t))^2`` ``[B]`` for positions ``p [B, H, 2]`` and boxes
    ``[W, 4]`` (``x_min, y_min, x_max, y_max``); ``sd_w`` is the signed distance to box ``w``
    (``> 0`` outside), so the penalty grows from ``margin`` outside a box to its inside."""
    b = torch.as_tensor(boxes, dtype=p.dtype, device=p.device)
    centre = (b[:, :2] + b[:, 2:]) / 2
    half = (b[:, 2:] - b[:, :2]) / 2
    q = (p[:, :, None, :] - centre).abs() - half  # [B, H, W, 2]
    outside = q.clamp_min(0).norm(dim=-1)
    inside = q.max(dim=-1).values.clamp_max(0)
    return torch.relu(margin - (outside + inside)).square().sum(dim=(1, 2))
