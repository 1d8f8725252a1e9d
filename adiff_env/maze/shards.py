"""The maze's generation in shards (:mod:`adiff_env.evolve.generation`): what ``adiff maze
evolve --ray`` runs on each Ray actor, and what the local run does shard by shard.

A round's ``samples`` start/goal pairs are drawn from the round seed ``seed * 1000 + k`` (as
without shards) and cut into ``shards`` contiguous ranges (:class:`MazeShard`). A shard keeps
the pairs' reset seeds, and its planner's sampling generator is seeded from the round and the
shard index (:func:`planner_seed`; shard 0 has the unsharded seed ``seed + k``, so one shard
is exactly the unsharded round). A :class:`MazeGenerationWorker` holds its own env (the MuJoCo
consistency filter runs on it) and builds the planner from the round's checkpoint for each
shard; so the same shards give the same rollouts on any executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adiff_env.evolve.domain import Generated

if TYPE_CHECKING:  # config: the domain's MazeEvolveConfig (not imported: evolve imports this module)
    from adiff_env.registry import Checkpoint


@dataclass(frozen=True)
class MazeShard:
    """Pairs ``start .. stop - 1`` of round ``round_index``; ``pair_seed`` draws the round's
    pairs (and their reset seeds), ``planner_seed`` seeds this shard's planner."""

    round_index: int
    index: int
    start: int
    stop: int
    pair_seed: int
    planner_seed: int


def planner_seed(seed: int, round_index: int, shard: int) -> int:
    """The planner seed of shard ``shard`` in round ``round_index``: ``seed + k`` for shard 0
    (the unsharded round's), ``(seed + k) * 1_000_003 + shard`` for the others."""
    base = seed + round_index
    return base if shard == 0 else base * 1_000_003 + shard


class MazeGenerationWorker:
    """A :class:`~adiff_env.evolve.generation.GenerationWorker` for the maze: ``run(checkpoint,
    shard)`` -> the shard's kept executed rollouts. The env is made on first use (in the
    process the worker runs in) and kept until :meth:`close`."""

    def __init__(self, config: Any, progress: bool = False) -> None:
        self.config, self.progress = config, progress
        self._env: Any = None

    def __getstate__(self) -> dict[str, Any]:  # travels to actors without its env
        return {"config": self.config, "progress": self.progress, "_env": None}

    def run(self, model: Checkpoint, shard: MazeShard) -> Generated:
        import gymnasium as gym

        from adiff_env.diffusion import GuidanceConfig
        from adiff_env.maze.filter import FilterConfig
        from adiff_env.maze.generate import generate
        from adiff_env.planners.trajectory import TrajectoryPlanner

        cfg = self.config
        if self._env is None:
            self._env = gym.make(cfg.env_id)
        env = self._env
        planner = TrajectoryPlanner.from_checkpoint(model, env, device=cfg.device, seed=shard.planner_seed, **cfg.act)
        pace = None
        if getattr(cfg, "faster_than", None):
            from adiff_env.maze.pace import ReferencePace

            pace = ReferencePace(cfg.faster_than, env, margin=cfg.faster_margin)
        gen = generate(planner, env, samples=cfg.samples, candidates=cfg.candidates, reward_weights=cfg.reward_weights,
                       guidance=GuidanceConfig(scale=cfg.guidance_scale, n_guide_steps=cfg.n_guide_steps),
                       filter_config=FilterConfig(epsilon=cfg.epsilon, kp=planner.act.kp, kd=planner.act.kd,
                                                  lookahead=planner.act.lookahead),
                       deadline=cfg.deadline, require_success=cfg.require_success, seed=shard.pair_seed,
                       progress=self.progress, mode=cfg.generation, pair_range=(shard.start, shard.stop), pace=pace,
                       require_coins=cfg.require_coins, min_turns=getattr(cfg, "min_turns", 0))
        extras: dict[str, Any] = {"infeasible": gen.infeasible, "unsuccessful": gen.unsuccessful,
                                  "coinless": gen.coinless}
        if pace is not None:
            extras["slower"] = gen.slower
            extras["lead_steps"] = [ref - own for own, ref in gen.arrivals if own is not None and ref is not None]
        return Generated(items=gen.items, rewards=gen.rewards, generated=gen.generated, extras=extras)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
