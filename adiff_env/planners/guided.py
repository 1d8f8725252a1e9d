"""The trajectory planner's reward-guided sampling (``act.reward``): the guide, the guidance
config and the ranking of candidates, from a reward built on the env's current state
(:class:`~adiff_env.planners.reward_spec.PlanReward`).

- guide: the reward's differentiable form on the unnormalized planned states
  (:func:`~adiff_env.evolve.rewards.planner_guide`);
- guidance: :class:`~adiff_env.diffusion.GuidanceConfig` with ``method = act.guidance``,
  ``scale = act.guide_scale``, ``n_guide_steps = act.guide_steps``; x0-space methods edit every
  reverse step (``t_stopgrad = 0``), ``xt`` keeps Diffuser's ``t_stopgrad = 2``;
- ranking of ``act.n_samples > 1`` candidates, lexicographic: fewest infeasible planned states
  (``act.rank = "free-cells"`` or ``"progress"``, the task's ``violations``), then the highest reward (its numpy
  form, the exact score), then the smoothest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def guided_kwargs(planner: Any, reward: Any) -> dict[str, Any]:
    """``{"guide", "guidance", "reward_fn"}`` for :func:`~adiff_env.diffusion.sample` on
    ``planner`` (a :class:`~adiff_env.planners.trajectory.TrajectoryPlanner`) guided by ``reward``."""
    from adiff_env.diffusion import GuidanceConfig
    from adiff_env.evolve.rewards import planner_guide

    act = planner.act
    guidance = GuidanceConfig(scale=act.guide_scale, method=act.guidance, n_guide_steps=act.guide_steps,
                              t_stopgrad=2 if act.guidance == "xt" else 0)
    if act.n_samples > 1:
        rank = guided_rank(planner, reward)
    else:
        def rank(x: torch.Tensor) -> torch.Tensor:  # one candidate: nothing to rank, skip the guide's scoring
            return torch.zeros(x.shape[0], device=x.device)
    return {"guide": planner_guide(reward, planner.normalizer, planner.action_dim), "guidance": guidance,
            "reward_fn": rank}


def guided_rank(planner: Any, reward: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """Ranking of guided candidates ``[N, H, D]`` (normalized) by (module doc); returns each
    candidate's place ``[N]`` (higher is better, ``N - 1`` the best)."""

    def rank(x: torch.Tensor) -> torch.Tensor:
        states = planner.normalizer.unnormalize(x.detach().cpu().numpy().astype(np.float64))[..., planner.action_dim:]
        keys = [planner._smoothness(x).detach().cpu().numpy(), np.array([reward(p) for p in states])]
        bad = planner.task.violations(states) if planner.act.rank in ("free-cells", "progress") else None
        if bad is not None:
            keys.append(-np.asarray(bad, dtype=np.float64))
        place = np.empty(len(states))
        place[np.lexsort(keys)] = np.arange(len(states))  # np.lexsort: the last key is the primary one
        return torch.as_tensor(place, dtype=x.dtype, device=x.device)

    return rank


def batched_guided_kwargs(planner: Any, rewards: list[Any]) -> dict[str, Any]:
    """:func:`guided_kwargs` for one sampler call over several envs: rows ``[i k, (i + 1) k)``
    of the ``[N k, H, D]`` batch (``k = act.n_samples``) are env ``i``'s candidates, guided and
    ranked by ``rewards[i]`` (each env's reward rebuilt on its own state). A candidate's reward
    depends on its own rows only, so each env's gradient is exactly its single-env one."""
    from adiff_env.diffusion import RewardGuide

    k = planner.act.n_samples
    per_env = [guided_kwargs(planner, r) for r in rewards]

    def split(x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[0] != k * len(per_env):
            raise ValueError(f"a batched guide expects {len(per_env)} envs x {k} candidates = {k * len(per_env)} rows, "
                             f"got {x.shape[0]}.")
        return list(x.split(k))

    def guide(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([kw["guide"](part, None) for kw, part in zip(per_env, split(x))])

    def rank(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([kw["reward_fn"](part) for kw, part in zip(per_env, split(x))])

    return {"guide": RewardGuide(guide), "guidance": per_env[0]["guidance"], "reward_fn": rank}
