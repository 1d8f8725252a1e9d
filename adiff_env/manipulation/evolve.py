"""Fetch's evolve domain: adapt a trajectory planner to goals its data never showed (AdaptDiffuser).

``EvolutionLoop(FetchEvolveDomain(FetchEvolveConfig(...))).run()`` (CLI: ``adiff planner
evolve``). The setting: a planner trained on pick-and-place with goals on the table only
adapts to goals in the air, with no new expert data. The loop
(:mod:`adiff_env.evolve.loop`) owns state, resume, registry and "register only if better";
this domain supplies, per round ``k``:

1. generation: the current planner acts closed-loop on ``samples`` episodes of the *target*
   env (``env_kwargs``, e.g. ``{"goal_region": "air"}``) with the goal in its conditioning
   (inpainted at the deadline and in the global condition), all episodes in one batched
   rollout (:func:`adiff_env.manipulation.rollouts.run_batch`). With ``height_caps`` the
   round's air goals are lowered to at most ``height_caps[k - 1]`` m above the table (the
   last cap repeats), so the first rounds hold goals the planner can reach; with ``goal_pull``
   the executed gripper command is pulled towards the goal while the block is held
   (:class:`~adiff_env.manipulation.exploration.GoalPull`: the goal reward's gradient in
   action space; one weight per round, the last repeating);
2. the MuJoCo consistency filter: every kept trajectory is an *executed* episode, so its
   states and actions are physically consistent by construction; an episode is kept if it
   succeeds at its last step, or (``hindsight``) if the block ended at rest at a position in
   the target's goal region (e.g. lifted into the air and held): that position becomes the
   episode's goal (:func:`~adiff_env.manipulation.rollouts.relabel`). Each kept item's buffer
   reward is its (relabelled) return under the env's own ``compute_reward``, so a task with
   an extra cost (``FetchPush-Avoid``'s zone) ranks by it unchanged;
3. fine-tuning from the current weights on the base's dataset + the buffer exported as a
   Minari dataset (a share ``mix_ratio`` of the windows from the buffer; the rest keep the
   seen task), into a scratch registry under the round folder;
4. evaluation: final-step success on ``eval_episodes`` episodes of the target env and of the
   ``keep_env_kwargs`` env (the seen task, e.g. table goals), reset seeds ``eval_seed + i``;
   ``score="weighted"``: ``100 x ((1 - keep_weight) x target + keep_weight x keep)``;
   ``score="guarded"``: ``100 x target`` if ``keep`` is at least the base's kept-task success
   minus ``keep_margin``, else ``GUARD_FAILED`` (never registered), so a gain on the kept task
   alone cannot pass for adaptation and a version that forgets the seen task is rejected.

With ``chain`` (default) generation and fine-tuning of round ``k`` start from the newest
earlier round's candidate (``rounds/rJ/candidate``), registered or not, instead of the
current registered version: a curriculum round's gain (goals up to 0.15 m) hardly shows on
the full target (goals up to 0.45 m), and without chaining every round would restart from the
base. Registration is unchanged: a version is written only when its score beats the best.

With ``keep_samples`` (default 0: off), each round also *rehearses* the seen task: the same
start point acts, unaided (no pull, relay or exploration), on ``keep_samples`` episodes of the
``keep_env_kwargs`` env (table goals), the successes pass the same filter (executed, in range;
no relabelling) and join the buffer beside the air episodes, labelled ``infos/rehearsal`` (1;
the air episodes 0), so fine-tuning also sees the planner's own table behaviour, not only the
expert's. The buffer's share ``mix_ratio`` of the windows then covers both; with
``buffer_goals="lifted"`` only the unlabelled (air) episodes are restricted.

No new expert data enters at any point: the buffer holds the planner's own rollouts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adiff_env.evolve.buffer import BufferConfig, ItemMetric
from adiff_env.evolve.domain import Evaluation, Generated, LoopConfig, Registration, RunContext, RunSlot, require_base_dataset
from adiff_env.manipulation.rollouts import block_path_features, path_distance

if TYPE_CHECKING:
    from adiff_env.evolve.buffer import TrajectoryBuffer
    from adiff_env.registry import Checkpoint, ModelRegistry

EVAL_SEED = 40_000
"""Selection seeds: rounds pick versions on reset seeds 40000+; report on others (e.g. 70000+)."""
GENERATION_SEED = 1_000_000
"""Generation episodes use reset seeds ``1_000_000 + 10_000 * seed + 1_000 * round + i``."""
PLANNER_KIND = "trajectory-planner"
SCORES = ("weighted", "guarded")
BUFFER_GOALS = ("any", "lifted")
"""Where the buffer's windows may take their hindsight goal: any step, or only lifted-block steps."""
REHEARSAL = "rehearsal"
"""The ``infos`` key (buffer item key ``infos/rehearsal``, one value per observation) that is 1 on
the kept-task episodes a round rehearses (``keep_samples``) and 0 on the target's episodes."""
BLOCK_Z_DIM = 5
"""The block's height in Fetch's observation (grip position 0-2, block position 3-5)."""
GUARD_FAILED = -1.0
"""The guarded score of a candidate whose kept-task success fell more than ``keep_margin`` below the base's."""
FETCH_METRIC = ItemMetric(block_path_features, path_distance)


@dataclass(frozen=True)
class FetchEvolveConfig:
    """Everything a run needs (saved in ``state.json``; module doc for the steps).

    ``env_id`` + ``env_kwargs``: the target task (gym.make keywords, e.g.
    ``{"goal_region": "air"}``); ``keep_env_kwargs``: the seen task whose success enters the
    score with ``keep_weight`` (None: target only); ``base``: ``planner:NAME[@vK]`` or a
    checkpoint path; ``samples``: episodes generated per round; ``height_caps``: per-round cap
    (m) of the air goals' height above the table (empty: the env's goals); ``hindsight``:
    relabel failed episodes whose block ended at rest in the target region; ``chain``: rounds
    start from the newest earlier candidate (module doc); ``explore_std`` / ``explore_steps``:
    generation's exploration noise on the gripper's x, y, z while the block is lifted, in the
    first ``explore_steps`` steps (:class:`~adiff_env.manipulation.rollouts.LiftExploration`;
    0: none), ``explore_bias``: std of its per-episode drift; ``hindsight_goal``: ``"final"``
    (the block's final position) or ``"peak"`` (its highest held position;
    :func:`~adiff_env.manipulation.rollouts.keep_rollouts`); ``max_normalized``: drop kept
    episodes with a row beyond this in the checkpoint's normalized units (a tumbling block's
    rotation reads 100+ against the clean data's range and swamps the loss; None: off); ``act``: acting
    overrides for generation and evaluation (ActConfig fields); ``batch_size``: envs per
    batched rollout (1 for agents that cannot act on a batch, e.g. reward guidance);
    ``goal_pull``: per-round weight of :class:`~adiff_env.manipulation.exploration.GoalPull`
    in generation (the last repeats; empty: none); ``pull_grip`` / ``pull_relay``: its
    ``grip`` and ``relay`` aids (close the fingers while held; show the planner the goal lowered
    to ``pull_relay`` m above the table until the block is held), generation only;
    ``consolidate_steps``: after each round's mixed fine-tune, that many steps on the base's
    dataset alone (0: none); ``buffer_goals``: ``"any"`` (default) or ``"lifted"``: the buffer's
    (self-generated) windows take hindsight goal indices only at steps where the block is above
    the table + ``lift_margin`` m, so a kept air episode cannot teach a table-goal window (the
    window may still start during the approach); the base's dataset is unchanged, and so are
    rehearsed episodes; ``keep_samples``: kept-task (``keep_env_kwargs``) episodes the round's
    start point generates, unaided, per round; the successful ones join the buffer labelled
    ``infos/rehearsal`` (module doc; 0: none); ``score``: ``"weighted"`` or
    ``"guarded"`` with ``keep_margin`` (a share, 0.03 = 3 points; module doc)."""

    env_id: str
    base: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    keep_env_kwargs: dict[str, Any] | None = None
    keep_weight: float = 0.5
    score: str = "weighted"
    keep_margin: float = 0.03
    name: str | None = None
    rounds: int = 3
    samples: int = 64
    keep_samples: int = 0
    height_caps: tuple[float, ...] = ()
    goal_pull: tuple[float, ...] = ()
    pull_grip: bool = False
    pull_relay: float | None = None
    hindsight: bool = True
    chain: bool = True
    hindsight_goal: str = "final"
    explore_std: float = 0.0
    explore_bias: float = 0.0
    explore_steps: int = 35
    max_normalized: float | None = 5.0
    buffer_capacity: int = 2000
    min_distance: float = 0.01
    finetune_steps: int = 600
    lr: float = 3e-4
    train_batch_size: int | None = None
    mix_ratio: float = 0.5
    consolidate_steps: int = 0
    buffer_goals: str = "any"
    lift_margin: float = 0.02
    eval_episodes: int = 30
    eval_seed: int = EVAL_SEED
    min_improvement: float = 0.0
    act: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"
    workdir: str | None = None

    def __post_init__(self) -> None:
        for key in ("rounds", "samples", "finetune_steps", "eval_episodes", "batch_size", "buffer_capacity"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}.")
        if isinstance(self.keep_samples, bool) or not isinstance(self.keep_samples, int) or self.keep_samples < 0:
            raise ValueError(f"keep_samples (kept-task episodes rehearsed per round) must be an integer >= 0, "
                             f"got {self.keep_samples!r}.")
        if self.keep_samples and self.keep_env_kwargs is None:
            raise ValueError(f"keep_samples={self.keep_samples} rehearses the kept task: set keep_env_kwargs "
                             "(--keep-env-kwarg goal_region='\"table\"').")
        from adiff_env.manipulation.rollouts import HINDSIGHT_GOALS

        if self.hindsight_goal not in HINDSIGHT_GOALS:
            from adiff_env.errors import UnknownNameError

            raise UnknownNameError("hindsight goal", self.hindsight_goal, HINDSIGHT_GOALS)
        if self.explore_std < 0 or self.explore_bias < 0 or self.explore_steps < 0:
            raise ValueError(f"explore_std and explore_steps must be >= 0, got {self.explore_std}, {self.explore_steps}.")
        if self.max_normalized is not None and not self.max_normalized > 0:
            raise ValueError(f"max_normalized must be > 0 or None, got {self.max_normalized}.")
        for key in ("mix_ratio", "keep_weight"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {getattr(self, key)}.")
        if self.score not in SCORES:
            from adiff_env.errors import UnknownNameError

            raise UnknownNameError("score", self.score, SCORES)
        if self.score == "guarded" and self.keep_env_kwargs is None:
            raise ValueError("score='guarded' guards the kept task's success: set keep_env_kwargs "
                             "(--keep-env-kwarg goal_region='\"table\"'), or use score='weighted'.")
        if not 0.0 <= self.keep_margin <= 1.0:
            raise ValueError(f"keep_margin is a share in [0, 1] (0.03 = 3 points), got {self.keep_margin}.")
        object.__setattr__(self, "goal_pull", tuple(float(w) for w in self.goal_pull))
        bad_pull = [w for w in self.goal_pull if not 0.0 <= w <= 1.0]
        if bad_pull:
            raise ValueError(f"goal_pull weights must be in [0, 1], got {bad_pull}.")
        if self.buffer_goals not in BUFFER_GOALS:
            from adiff_env.errors import UnknownNameError

            raise UnknownNameError("buffer goals", self.buffer_goals, BUFFER_GOALS)
        if self.lift_margin < 0:
            raise ValueError(f"lift_margin must be >= 0 m, got {self.lift_margin}.")
        if self.consolidate_steps < 0:
            raise ValueError(f"consolidate_steps must be >= 0, got {self.consolidate_steps}.")
        if self.pull_relay is not None and self.pull_relay < 0:
            raise ValueError(f"pull_relay must be >= 0 m or None, got {self.pull_relay}.")
        if self.min_improvement < 0:
            raise ValueError(f"min_improvement must be >= 0, got {self.min_improvement}.")
        object.__setattr__(self, "height_caps", tuple(float(c) for c in self.height_caps))
        from adiff_env.manipulation.env import AIR_OFFSET_LOW

        bad = [c for c in self.height_caps if not c > AIR_OFFSET_LOW]
        if bad:
            raise ValueError(f"height_caps must be > {AIR_OFFSET_LOW} m (air goals start there), got {bad}.")
        if self.act:
            from adiff_env.planners.preset import ActConfig

            known = {f.name for f in dataclasses.fields(ActConfig)}
            unknown = sorted(set(self.act) - known)
            if unknown:
                raise ValueError(f"act: unknown acting options {unknown}; known: {sorted(known)}.")
            ActConfig(**self.act)

    def loop_config(self) -> LoopConfig:
        """The loop's part of this config."""
        return LoopConfig(base=self.base, name=self.name, rounds=self.rounds, min_improvement=self.min_improvement,
                          workdir=self.workdir)

    def cap(self, round_index: int) -> float | None:
        """Round ``round_index``'s height cap (the last one repeats), None without a curriculum."""
        if not self.height_caps:
            return None
        return self.height_caps[min(round_index, len(self.height_caps)) - 1]

    def pull(self, round_index: int) -> float:
        """Round ``round_index``'s goal-pull weight (the last one repeats; 0 without any)."""
        if not self.goal_pull:
            return 0.0
        return self.goal_pull[min(round_index, len(self.goal_pull)) - 1]

    @property
    def target(self) -> str:
        """The target task as ``ENV_ID?k=v`` (for titles and metadata)."""
        return env_label(self.env_id, self.env_kwargs)


def _in_range(kept: list[Any], checkpoint: Checkpoint, bound: float) -> tuple[list[Any], int]:
    """The rollouts whose rows ``[action, observation]`` stay within ``bound`` in
    ``checkpoint``'s normalized units, and how many were dropped."""
    from adiff_env.datasets.normalizers import normalizer_from_dict

    norm = normalizer_from_dict(checkpoint.metadata.normalizer)
    out = []
    for r in kept:
        rows = np.concatenate([r.item["actions"], r.item["obs/observation"][:-1]], axis=1)
        if float(np.abs(norm.normalize(rows)).max()) <= bound:
            out.append(r)
    return out, len(kept) - len(out)


def _labelled(item: dict[str, Any], rehearsal: int) -> dict[str, Any]:
    """``item`` with ``infos/rehearsal`` set to ``rehearsal`` at every observation (module doc)."""
    from adiff_env.evolve.buffer import INFOS_PREFIX

    return {**item, INFOS_PREFIX + REHEARSAL: np.full(len(item["actions"]) + 1, rehearsal, dtype=np.int8)}


def _where(checkpoint: Checkpoint, workdir: Path) -> str:
    """A checkpoint's spec, with its folder relative to the work dir when it is a round's candidate."""
    try:
        return f"{checkpoint.spec} ({checkpoint.path.resolve().relative_to(workdir.resolve())})"
    except ValueError:
        return checkpoint.spec


def env_label(env_id: str, kwargs: dict[str, Any] | None) -> str:
    """``adiff/FetchPickAndPlace-v0?goal_region=air`` (no ``?`` without keywords)."""
    if not kwargs:
        return env_id
    return env_id + "?" + "&".join(f"{k}={v}" for k, v in sorted(kwargs.items()))


class FetchEvolveDomain(RunSlot):
    """Fetch's :class:`~adiff_env.evolve.domain.EvolveDomain` (module doc)."""

    kind = "fetch"
    score_label = "success score (target / kept task)"

    def __init__(self, config: FetchEvolveConfig) -> None:
        self.config = config
        self.target = config.target
        self._run: RunContext | None = None
        self._keep_reference: float | None = None

    # ------------------------------------------------------------------ set-up
    def loop_config(self) -> LoopConfig:
        return self.config.loop_config()

    def buffer_config(self) -> BufferConfig:
        c = self.config
        return BufferConfig(capacity=c.buffer_capacity, min_distance=c.min_distance, seed=c.seed)

    def buffer_metric(self) -> ItemMetric | None:
        return FETCH_METRIC

    def load(self, registry: ModelRegistry, spec: str) -> Checkpoint:
        return registry.load(spec.removeprefix("planner:"), kind=PLANNER_KIND)

    def open(self, run: RunContext) -> None:
        """Check before any work that the env builds and the base's dataset (mixed into
        fine-tuning) is on disk."""
        import gymnasium as gym

        from adiff_env.manipulation import is_fetch_env

        env = gym.make(self.config.env_id, **self.config.env_kwargs)
        try:
            if not is_fetch_env(env):
                raise ValueError(f"FetchEvolveDomain evolves on Fetch envs; {self.config.env_id!r} is not one "
                                 "(mazes: adiff maze evolve).")
        finally:
            env.close()
        require_base_dataset(run, "adiff datasets collect --recipe ...")
        self._run = run

    def close(self) -> None:
        self._run = None

    def _env_factory(self, kwargs: dict[str, Any] | None) -> Any:
        import gymnasium as gym

        env_id, kw = self.config.env_id, dict(kwargs or {})
        return lambda: gym.make(env_id, **kw)

    def _planner(self, checkpoint: Checkpoint, env: Any, seed: int) -> Any:
        from adiff_env.planners.trajectory import TrajectoryPlanner

        return TrajectoryPlanner.from_checkpoint(checkpoint, env, device=self.config.device, seed=seed, **self.config.act)

    def start_point(self, current: Checkpoint, round_index: int) -> Checkpoint:
        """What round ``round_index`` generates with and fine-tunes from: with ``chain`` the
        newest earlier round's candidate on disk (module doc), else (or before any) ``current``."""
        if not self.config.chain:
            return current
        from adiff_env.registry import ModelRegistry

        for j in range(round_index - 1, 0, -1):
            folder = self.run.workdir / "rounds" / f"r{j}" / "candidate"
            if (folder / "models" / self.run.name).is_dir():
                return ModelRegistry(folder, read_only_roots=[]).load(self.run.name, kind=PLANNER_KIND)
        return current

    # ------------------------------------------------------------------ the round's steps
    def generate(self, current: Checkpoint, round_index: int) -> Generated:
        """Closed-loop episodes of ``current`` on the target (lowered goals with a curriculum),
        filtered and relabelled as in the module doc."""
        from adiff_env.manipulation.rollouts import LiftExploration, curriculum_goal, keep_rollouts, run_batch, table_height

        cfg, k = self.config, round_index
        current = self.start_point(current, k)
        make_env = self._env_factory(cfg.env_kwargs)
        probe = make_env()
        try:
            seeds = [GENERATION_SEED + 10_000 * cfg.seed + 1_000 * k + i for i in range(cfg.samples)]
            cap = cfg.cap(k)
            goals: list[np.ndarray | None] | None = None
            if cap is not None:
                z, goals = table_height(probe), []
                for s in seeds:
                    obs, _ = probe.reset(seed=s)
                    goals.append(curriculum_goal(obs["desired_goal"], z, cap))
            planner = self._planner(current, probe, seed=cfg.seed * 1000 + k)
            if cfg.explore_std > 0 or cfg.explore_bias > 0:
                planner = LiftExploration(planner, cfg.explore_std, cfg.explore_steps, table_height(probe),
                                          seed=cfg.seed * 1000 + k, bias_std=cfg.explore_bias)
            if cfg.pull(k) > 0 or cfg.pull_grip or cfg.pull_relay is not None:
                from adiff_env.manipulation.exploration import GoalPull

                planner = GoalPull(planner, cfg.pull(k), table_height(probe), grip=cfg.pull_grip, relay=cfg.pull_relay)
            rollouts = run_batch(make_env, planner, seeds, goals, batch_size=cfg.batch_size, progress=self.run.progress,
                                 desc=f"generate r{k}")
            kept, counts = keep_rollouts(rollouts, probe, cfg.hindsight, cfg.hindsight_goal)
            if cfg.max_normalized is not None:
                kept, counts["out_of_range"] = _in_range(kept, current, cfg.max_normalized)
            heights = [float(r.item["obs/desired_goal"][-1][2]) - table_height(probe) for r in kept]
        finally:
            probe.close()
        items, rewards = [r.item for r in kept], [r.ret for r in kept]
        rehearsed: dict[str, Any] = {}
        if cfg.keep_samples:
            table, rehearsed = self.rehearse(current, k)
            items = [_labelled(item, 0) for item in items] + [_labelled(r.item, 1) for r in table]
            rewards += [r.ret for r in table]
        extras: dict[str, Any] = {**counts, "height_cap": cap, "goal_pull": cfg.pull(k), "pull_grip": cfg.pull_grip,
                                  "pull_relay": cfg.pull_relay,
                                  "generation_success_rate": float(np.mean([r.success for r in rollouts])),
                                  "kept_height_max": max(heights) if heights else None,
                                  "kept_height_mean": float(np.mean(heights)) if heights else None,
                                  "generated_with": _where(current, self.run.workdir), **rehearsed}
        return Generated(items=items, rewards=rewards, generated=len(rollouts), extras=extras)

    def rehearse(self, start: Checkpoint, round_index: int) -> tuple[list[Any], dict[str, Any]]:
        """Round ``round_index``'s rehearsal of the kept task (module doc): ``start`` acts unaided on
        ``keep_samples`` episodes of the ``keep_env_kwargs`` env (reset seeds right after the
        target's: ``GENERATION_SEED + 10_000 * seed + 1_000 * round + samples + i``); returns the
        successful, in-range rollouts and their counts (``rehearsal_*``)."""
        from adiff_env.manipulation.rollouts import keep_rollouts, run_batch

        cfg, k = self.config, round_index
        make_env = self._env_factory(cfg.keep_env_kwargs)
        probe = make_env()
        try:
            base = GENERATION_SEED + 10_000 * cfg.seed + 1_000 * k + cfg.samples
            seeds = [base + i for i in range(cfg.keep_samples)]
            planner = self._planner(start, probe, seed=cfg.seed * 1000 + k + 500)
            rollouts = run_batch(make_env, planner, seeds, batch_size=cfg.batch_size, progress=self.run.progress,
                                 desc=f"rehearse r{k}")
            kept, counts = keep_rollouts(rollouts, probe, hindsight=False)
            dropped = 0
            if cfg.max_normalized is not None:
                kept, dropped = _in_range(kept, start, cfg.max_normalized)
        finally:
            probe.close()
        return kept, {"rehearsal_generated": len(rollouts), "rehearsal_succeeded": counts["succeeded"],
                      "rehearsal_out_of_range": dropped, "rehearsal_kept": len(kept),
                      "rehearsal_env": env_label(cfg.env_id, cfg.keep_env_kwargs)}

    def finetune(self, current: Checkpoint, buffer: TrajectoryBuffer, folder: Path,
                 round_index: int) -> tuple[Checkpoint, float]:
        """Fine-tune the round's start point (:meth:`start_point`) on its dataset + the buffer
        (:func:`~adiff_env.planners.finetune.finetune_on_buffer`)."""
        from adiff_env.planners.finetune import finetune_on_buffer

        cfg = self.config
        above = None
        if cfg.buffer_goals == "lifted":
            from adiff_env.manipulation.rollouts import table_height

            probe = self._env_factory(cfg.env_kwargs)()
            try:
                above = (BLOCK_Z_DIM, table_height(probe) + cfg.lift_margin)
            finally:
                probe.close()
        exempt = REHEARSAL if cfg.keep_samples and above is not None else None
        return finetune_on_buffer(self.start_point(current, round_index), buffer, folder, name=self.run.name,
                                  env_id=cfg.env_id, env_kwargs=cfg.env_kwargs, steps=cfg.finetune_steps, lr=cfg.lr,
                                  seed=cfg.seed + round_index, mix_ratio=cfg.mix_ratio, device=cfg.device,
                                  progress=self.run.progress, batch_size=cfg.train_batch_size, act=cfg.act,
                                  consolidate_steps=cfg.consolidate_steps, buffer_goal_above=above,
                                  buffer_goal_exempt=exempt,
                                  description=f"{len(buffer)} executed, filtered planner rollouts on {cfg.target} "
                                              "(self-evolution buffer; hindsight goals"
                                              + (f"; with rehearsed {env_label(cfg.env_id, cfg.keep_env_kwargs)} "
                                                 "episodes, infos['rehearsal'] = 1)" if cfg.keep_samples else ")"))

    def evaluate(self, checkpoint: Checkpoint) -> Evaluation:
        """Final-step success on the target and the kept task, same seeds every round."""
        cfg = self.config
        target = self.success(checkpoint, cfg.env_kwargs)
        summary: dict[str, Any] = {"target": cfg.target, "target_success_rate": target, "episodes": cfg.eval_episodes,
                                   "seed": cfg.eval_seed}
        score = target
        if cfg.keep_env_kwargs is not None:
            keep = self.success(checkpoint, cfg.keep_env_kwargs)
            summary.update(keep=env_label(cfg.env_id, cfg.keep_env_kwargs), keep_success_rate=keep)
            if cfg.score == "weighted":
                score = (1.0 - cfg.keep_weight) * target + cfg.keep_weight * keep
            else:
                reference = keep if self._is_base(checkpoint) else self.keep_reference()
                summary.update(keep_reference=reference, keep_margin=cfg.keep_margin)
                if self._is_base(checkpoint):
                    self._keep_reference = keep
                elif keep < reference - cfg.keep_margin - 1e-9:
                    summary["guard"] = f"failed: kept task {keep:.3f} < base {reference:.3f} - {cfg.keep_margin}"
                    return Evaluation(score=GUARD_FAILED, summary=summary)
        return Evaluation(score=100.0 * score, summary=summary)

    def _is_base(self, checkpoint: Checkpoint) -> bool:
        return self._run is not None and checkpoint.path == self.run.base.path

    def keep_reference(self) -> float:
        """The base's kept-task success for the guard: measured when the loop evaluated the base,
        read back from ``state.json`` on resume, or measured now."""
        if self._keep_reference is None:
            import json

            state = self.run.workdir / "state.json"
            saved = (json.loads(state.read_text()).get("baseline_eval") or {}) if state.exists() else {}
            if "keep_success_rate" in saved:
                self._keep_reference = float(saved["keep_success_rate"])
            else:
                self._keep_reference = self.success(self.run.base, self.config.keep_env_kwargs)
        return self._keep_reference

    def success(self, checkpoint: Checkpoint, env_kwargs: dict[str, Any] | None, episodes: int | None = None,
                seed: int | None = None) -> float:
        """Final-step success rate of ``checkpoint`` on ``env_id`` with ``env_kwargs`` over
        ``episodes`` batched episodes (reset seeds ``seed + i``; defaults: the config's)."""
        from adiff_env.manipulation.rollouts import run_batch

        cfg = self.config
        n, s = episodes or cfg.eval_episodes, cfg.eval_seed if seed is None else seed
        make_env = self._env_factory(env_kwargs)
        probe = make_env()
        try:
            planner = self._planner(checkpoint, probe, seed=cfg.seed)
            rollouts = run_batch(make_env, planner, [s + i for i in range(n)], batch_size=cfg.batch_size,
                                 progress=self._run.progress if self._run else False, desc="evaluate")
        finally:
            probe.close()
        return float(np.mean([r.success for r in rollouts]))

    def registration(self, candidate: Checkpoint) -> Registration:
        c = self.config
        return Registration(metadata={"env": c.env_id}, extra_files={})
