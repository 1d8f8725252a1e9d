"""The maze's evolve domain: AdaptDiffuser self-evolution of a trajectory planner on a PointMaze.

``EvolutionLoop(MazeEvolveDomain(MazeEvolveConfig(...))).run()`` (CLI: ``adiff evolve``). The
loop (:mod:`adiff_env.evolve.loop`) owns state, resume, registry, TensorBoard and plots; this
domain supplies, per round ``k``:

1. generation (:mod:`adiff_env.maze.generate`): random start/goal pairs, reward guidance on
   the task reward (:func:`adiff_env.maze.rewards.task_reward`), consistency filter
   (:mod:`adiff_env.maze.filter`), executed rollouts scored; items are rollout dicts and the
   buffer compares them by their resampled paths (the default trajectory metric);
2. fine-tuning from the current weights on the original dataset + the buffer exported as a
   Minari dataset (a share ``mix_ratio`` of the windows from the buffer), into a scratch
   registry under the round folder;
3. evaluation with the ``adiff evaluate`` protocol (``evaluate()``, the same
   ``eval_episodes`` seeds every round), scored by ``score_fn`` (:func:`default_score`).

Before any work, :meth:`MazeEvolveDomain.open` checks that the base planner's dataset is on
disk (fine-tuning mixes it in) and says how to collect it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adiff_env.evolve.buffer import BufferConfig, ItemMetric
from adiff_env.evolve.domain import Evaluation, Generated, LoopConfig, Registration, RunContext, RunSlot, require_base_dataset
from adiff_env.maze.filter import DEFAULT_EPSILON

if TYPE_CHECKING:
    from adiff_env.evolve.buffer import TrajectoryBuffer
    from adiff_env.registry import Checkpoint, ModelRegistry

# Selection seeds: the rounds pick versions on episodes 50000.. so that the final comparison on
# `adiff bench`'s reset seeds (s * 10000 + i, s < 5) is not on episodes the selection saw.
EVAL_SEED = 50_000
DEFAULT_WEIGHTS = {"goal": 1.0, "path-length": 0.02, "free-cells": 1.0, "coins": 1.0}
PLANNER_KIND = "trajectory-planner"


@dataclass(frozen=True)
class MazeEvolveConfig:
    """Everything a run needs (saved in ``state.json``). ``base``: ``planner:NAME[@vK]``,
    ``NAME[@vK]`` or a checkpoint path; ``name``: registry name of new versions (default the
    base's); rewards by name with weights (:func:`~adiff_env.maze.rewards.task_reward`);
    ``shards``: generation shards per round (:mod:`adiff_env.maze.shards`; ``--ray`` runs them
    on actors; the same count gives the same rollouts locally and on Ray). ``faster_than``: a
    reference agent spec (e.g. ``expert-tuned``); generation then keeps only rollouts that reach
    the goal no later than that agent does on the same reset, minus ``faster_margin`` steps
    (:mod:`adiff_env.maze.pace`: AdaptDiffuser's "better than the data", measured in time).
    ``require_coins``: keep only generated episodes that took every coin (gold-coin mazes;
    :func:`~adiff_env.maze.generate.took_all_coins`); ``speed_weight``: the selection score adds
    this times the normalized score x100 (:func:`default_score`), a tie-break between versions
    that take the same coins and reach the goal as often (0: off). ``min_turns``: generation draws
    only start/goal pairs whose shortest cell route turns at least that often
    (:func:`~adiff_env.maze.generate.draw_pairs`; 0: any pair)."""

    env_id: str
    base: str
    name: str | None = None
    rounds: int = 3
    samples: int = 64
    candidates: int = 4
    reward_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    guidance_scale: float = 0.1
    n_guide_steps: int = 2
    deadline: str = "geodesic"
    generation: str = "open-loop"
    epsilon: float = DEFAULT_EPSILON
    require_success: bool = True
    buffer_capacity: int = 2000
    min_distance: float = 0.1
    top_quantile: float | None = None
    min_reward: float | None = None
    finetune_steps: int = 500
    lr: float = 1e-4
    batch_size: int | None = None
    mix_ratio: float = 0.3
    eval_episodes: int = 20
    eval_seed: int = EVAL_SEED
    min_improvement: float = 0.0
    act: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    workdir: str | None = None
    shards: int = 1
    faster_than: str | None = None
    faster_margin: int = 0
    require_coins: bool = False
    speed_weight: float = 0.0
    min_turns: int = 0

    def __post_init__(self) -> None:
        for key in ("rounds", "samples", "candidates", "finetune_steps", "eval_episodes", "shards"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}.")
        if self.act:
            from adiff_env.planners.preset import ActConfig

            known = {f.name for f in dataclasses.fields(ActConfig)}
            unknown = sorted(set(self.act) - known)
            if unknown:
                raise ValueError(f"act: unknown acting options {unknown}; known: {sorted(known)}.")
            ActConfig(**self.act)  # validates the values
        if self.faster_margin < 0:
            raise ValueError(f"faster_margin must be >= 0 steps, got {self.faster_margin}.")
        if self.faster_than is not None and not self.faster_than.strip():
            raise ValueError("faster_than must be an agent spec such as 'expert-tuned', or None; got an empty string.")
        if self.min_turns < 0:
            raise ValueError(f"min_turns must be >= 0 (0: any start/goal pair), got {self.min_turns}.")
        if self.min_improvement < 0:
            raise ValueError(f"min_improvement must be >= 0, got {self.min_improvement}.")
        if not self.speed_weight >= 0:
            raise ValueError(f"speed_weight must be >= 0 (0: coins and success only), got {self.speed_weight}.")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError(f"mix_ratio must be in [0, 1], got {self.mix_ratio}.")
        if self.generation not in ("open-loop", "closed-loop"):
            raise ValueError(f"generation must be 'open-loop' or 'closed-loop', got {self.generation!r}.")
        if self.deadline not in ("geodesic", "horizon"):
            raise ValueError(f"deadline must be 'geodesic' or 'horizon', got {self.deadline!r}.")

    def loop_config(self) -> LoopConfig:
        """The loop's part of this config."""
        return LoopConfig(base=self.base, name=self.name, rounds=self.rounds, min_improvement=self.min_improvement,
                          workdir=self.workdir)


def default_score(result: Any, speed_weight: float = 0.0) -> float:
    """Gold-coin mazes: ``100 x (coins collected / coins available + success rate) / 2``, plus
    ``speed_weight`` x the normalized score x100 (steps at the goal: a faster tour) when that is
    > 0. Their normalized return is the wrong yardstick on its own: a coin's bonus is smaller
    than the steps at the goal that its detour costs. Other envs: the normalized score x100 when
    the env has references, else the mean return."""
    available = result.extra.get("coins_available")
    if available:
        score = 50.0 * (result.extra["coins_mean"] / available + result.success_rate)
        if speed_weight > 0 and result.normalized_score_x100_mean is not None:
            score += speed_weight * result.normalized_score_x100_mean
        return float(score)
    value = result.normalized_score_x100_mean
    return float(value if value is not None else result.return_mean)


def eval_summary(result: Any) -> dict[str, Any]:
    """The JSON summary of an :class:`~adiff_env.evaluation.EvalResult` kept in ``state.json``."""
    out = {"return_mean": result.return_mean, "normalized_score_x100_mean": result.normalized_score_x100_mean,
           "success_rate": result.success_rate, "episodes": result.episodes, "seed": result.seed}
    for key in ("coins_mean", "coins_available"):
        if key in result.extra:
            out[key] = result.extra[key]
    return out


class MazeEvolveDomain(RunSlot):
    """The maze's :class:`~adiff_env.evolve.domain.EvolveDomain` (module doc).
    ``score_fn(EvalResult) -> float`` decides improvement (default :func:`default_score`)."""

    kind = "maze"
    score_label = "score"

    def __init__(self, config: MazeEvolveConfig, *, score_fn: Callable[[Any], float] | None = None) -> None:
        self.config = config
        self.score_fn = score_fn or functools.partial(default_score, speed_weight=config.speed_weight)
        self.target = config.env_id
        self._run: RunContext | None = None

    # ------------------------------------------------------------------ set-up
    def loop_config(self) -> LoopConfig:
        return self.config.loop_config()

    def buffer_config(self) -> BufferConfig:
        c = self.config
        return BufferConfig(capacity=c.buffer_capacity, min_distance=c.min_distance, top_quantile=c.top_quantile,
                            min_reward=c.min_reward, seed=c.seed)

    def buffer_metric(self) -> ItemMetric | None:
        return None  # rollouts: the buffer's default trajectory metric

    def load(self, registry: ModelRegistry, spec: str) -> Checkpoint:
        return registry.load(spec.removeprefix("planner:"), kind=PLANNER_KIND)

    def open(self, run: RunContext) -> None:
        """Check before any work that the base's training dataset (mixed into fine-tuning) is on disk."""
        dataset = (run.base.config.get("preset") or {}).get("dataset")
        require_base_dataset(run, _collect_command(dataset, self.config.env_id) if dataset else "")
        self._run = run

    def close(self) -> None:
        self._run = None

    # ------------------------------------------------------------------ the round's steps
    def generate(self, current: Checkpoint, round_index: int) -> Generated:
        """Guided generation with ``current`` on the target env (:func:`adiff_env.maze.generate.generate`),
        its ``shards`` one after the other in this process (:mod:`adiff_env.maze.shards`)."""
        from adiff_env.evolve.generation import run_local

        return run_local(self, current, round_index, self.run.progress)

    # ------------------------------------------------------------------ sharded generation (--ray)
    def generation_shards(self, current: Checkpoint, round_index: int) -> list[Any]:
        """The round's ``samples`` pairs in ``shards`` contiguous :class:`~adiff_env.maze.shards.MazeShard`."""
        from adiff_env.evolve.generation import split_range
        from adiff_env.maze.shards import MazeShard, planner_seed

        cfg, k = self.config, round_index
        return [MazeShard(round_index=k, index=i, start=a, stop=b, pair_seed=cfg.seed * 1000 + k,
                          planner_seed=planner_seed(cfg.seed, k, i))
                for i, (a, b) in enumerate(split_range(cfg.samples, cfg.shards))]

    def generation_model(self, current: Checkpoint) -> Checkpoint:
        return current  # path, CPU tensors, config, metadata: all a worker needs

    def generation_worker(self, progress: bool = False) -> Any:
        from adiff_env.maze.shards import MazeGenerationWorker

        return MazeGenerationWorker(self.config, progress)

    def finetune(self, current: Checkpoint, buffer: TrajectoryBuffer, folder: Path,
                 round_index: int) -> tuple[Checkpoint, float]:
        """Fine-tune ``current`` on its dataset + the buffer (:func:`~adiff_env.planners.finetune.finetune_on_buffer`)."""
        from adiff_env.planners.finetune import finetune_on_buffer

        cfg = self.config
        return finetune_on_buffer(current, buffer, folder, name=self.run.name, env_id=cfg.env_id, steps=cfg.finetune_steps,
                                  lr=cfg.lr, seed=cfg.seed + round_index, mix_ratio=cfg.mix_ratio, device=cfg.device,
                                  progress=self.run.progress, batch_size=cfg.batch_size, act=cfg.act)

    def evaluate(self, checkpoint: Checkpoint) -> Evaluation:
        """The ``adiff evaluate`` protocol on the target env, same seeds every round."""
        from adiff_env.evaluation import evaluate

        result = evaluate(self.config.env_id, f"planner:{checkpoint.path.resolve()}", episodes=self.config.eval_episodes,
                          seed=self.config.eval_seed, agent_options=dict(self.config.act) or None)
        return Evaluation(score=self.score_fn(result), summary=eval_summary(result))

    def registration(self, candidate: Checkpoint) -> Registration:
        return Registration(metadata={"env": self.config.env_id})


def _collect_command(dataset: str, env_id: str) -> str:
    """The command that collects ``dataset``: its shipped recipe if there is one."""
    import re

    from adiff_env.assets import asset_path

    recipe = re.sub(r"-v\d+$", "", dataset.split("/")[-1])
    try:
        shipped = asset_path("datasets", f"{recipe}.toml").is_file()
    except FileNotFoundError:
        shipped = False
    if shipped:
        return f"`adiff datasets collect --recipe {recipe}`"
    return f"`adiff datasets collect {env_id} --dataset-id {dataset}`"
