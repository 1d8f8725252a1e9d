"""FetchPush-Avoid's evolve domain: self-evolution that keeps only episodes that stay out of the zone.

``EvolutionLoop(FetchAvoidEvolveDomain(FetchEvolveConfig(env_id="adiff/FetchPush-Avoid-v0",
base="planner:fetch-push", hindsight=False))).run()`` (CLI: ``adiff planner evolve
adiff/FetchPush-Avoid-v0 --avoid-zone --no-hindsight ...``). Everything is
:class:`~adiff_env.manipulation.evolve.FetchEvolveDomain`'s (closed-loop generation on the target
env, the executed-episode filter, the buffer ranked by the env's own return with the zone cost,
fine-tuning on the base's dataset + the buffer, register only if better) except two steps:

1. the filter: of the episodes the Fetch filter keeps (success at the last step; relabelled
   ones too unless ``hindsight=False``), those whose block's centre entered the forbidden disc
   at any step (:func:`entered_zone`) are dropped too (counted in ``zone_entered``), so the
   buffer holds only the planner's own pushes that succeeded *and* avoided the zone;
2. the score: ``100 x`` the share of evaluation episodes (target env, reset seeds
   ``eval_seed + i``) that succeed at the last step without the block ever entering the zone
   ("safe success"), with success, the share of episodes entering the zone and the share of
   steps in it in the summary. A version that pushes through the zone more often, or succeeds
   less, does not register.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from adiff_env.evolve.domain import Evaluation, Generated
from adiff_env.manipulation.evolve import FetchEvolveDomain

if TYPE_CHECKING:
    from adiff_env.registry import Checkpoint

ZONE_KEY = "obs/forbidden_zone"
BLOCK_KEY = "obs/achieved_goal"


def zone_mask(item: dict[str, np.ndarray]) -> np.ndarray:
    """Per step after the reset (``[T]``, the env's ``in_zone`` rule): whether the block's centre
    (``achieved_goal[1:, :2]``) lies strictly inside the disc ``forbidden_zone = [x, y, r]``
    of that step's observation. A rollout without ``forbidden_zone`` has no zone: all False."""
    block = np.asarray(item[BLOCK_KEY], dtype=np.float64)[1:, :2]
    if ZONE_KEY not in item:
        return np.zeros(len(block), dtype=bool)
    zone = np.asarray(item[ZONE_KEY], dtype=np.float64)[1:]
    return np.linalg.norm(block - zone[:, :2], axis=-1) < zone[:, 2]


def entered_zone(item: dict[str, np.ndarray]) -> bool:
    """Whether the block's centre was inside the forbidden disc at any step (:func:`zone_mask`)."""
    return bool(zone_mask(item).any())


class FetchAvoidEvolveDomain(FetchEvolveDomain):
    """:class:`~adiff_env.manipulation.evolve.FetchEvolveDomain` with the zone filter and the
    safe-success score of the module doc (same config, :class:`FetchEvolveConfig`)."""

    kind = "fetch-avoid"
    score_label = "safe success x100 (success, zone never entered)"

    def generate(self, current: Checkpoint, round_index: int) -> Generated:
        """The Fetch generation and filter, then the episodes that entered the zone dropped."""
        gen = super().generate(current, round_index)
        keep = [i for i, item in enumerate(gen.items) if not entered_zone(item)]
        extras = {**gen.extras, "zone_entered": len(gen.items) - len(keep)}
        return Generated(items=[gen.items[i] for i in keep], rewards=[gen.rewards[i] for i in keep],
                         generated=gen.generated, extras=extras)

    def evaluate(self, checkpoint: Checkpoint) -> Evaluation:
        """Safe success x100 on the target env's ``eval_episodes`` episodes (module doc)."""
        summary = self.zone_summary(self.rollouts(checkpoint))
        return Evaluation(score=100.0 * summary["safe_success_rate"], summary=summary)

    def zone_summary(self, rollouts: list[Any]) -> dict[str, Any]:
        """Success, zone figures and safe success of evaluated rollouts (JSON-ready)."""
        cfg = self.config
        masks = [zone_mask(r.item) for r in rollouts]
        entered = np.array([m.any() for m in masks])
        success = np.array([r.success for r in rollouts])
        return {"target": cfg.target, "episodes": len(rollouts), "seed": cfg.eval_seed,
                "target_success_rate": float(success.mean()), "safe_success_rate": float((success & ~entered).mean()),
                "zone_episodes": float(entered.mean()), "zone_steps": float(np.mean([m.mean() for m in masks])),
                "return_mean": float(np.mean([r.ret for r in rollouts]))}

    def rollouts(self, checkpoint: Checkpoint) -> list[Any]:
        """``eval_episodes`` batched episodes of ``checkpoint`` on the target env (reset seeds
        ``eval_seed + i``)."""
        from adiff_env.manipulation.rollouts import run_batch

        cfg = self.config
        make_env = self._env_factory(cfg.env_kwargs)
        probe = make_env()
        try:
            planner = self._planner(checkpoint, probe, seed=cfg.seed)
            return run_batch(make_env, planner, [cfg.eval_seed + i for i in range(cfg.eval_episodes)],
                             batch_size=cfg.batch_size, progress=self._run.progress if self._run else False, desc="evaluate")
        finally:
            probe.close()
