"""AdaptDiffuser's self-evolution loop: generate -> filter -> buffer -> fine-tune -> evaluate.

``SelfEvolver(config, callbacks=[...]).run()`` (CLI: ``adiff evolve``), per round ``k``:

1. guided generation on the target env (:mod:`adiff_env.evolve.generate`): random start/goal
   pairs, reward guidance on the task reward, consistency filter, executed rollouts scored;
2. buffer (:class:`TrajectoryBuffer`): quality, diversity, capacity; saved atomically and
   exported as a Minari dataset;
3. fine-tune from the current weights on the original dataset + buffer windows (a share
   ``mix_ratio`` from the buffer), into a scratch registry under the round folder;
4. evaluate the candidate with the ``adiff evaluate`` protocol (``evaluate()``, the same
   ``eval_episodes`` seeds every round) and register it as a new version of ``name`` (parent =
   the current spec) ONLY if its score beats the best so far by more than ``min_improvement``;
   otherwise the current version stays and the round says so.

Files in ``workdir`` (default ``$ADIFF_HOME/evolve/NAME``): ``state.json`` (config, baseline,
one record per finished round; written atomically after each round, so ``resume=True``
continues after the last finished round), ``rounds/rK/`` (buffer, training run, candidate),
``tb/`` (TensorBoard scalars), ``score_by_round.png``. A registry version is written whole or
not at all and is tagged with the run id and round, so a resumed run finds a version
registered just before an interruption instead of registering the round twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adiff_env.diffusion import GuidanceConfig
from adiff_env.evolve.buffer import BufferConfig, TrajectoryBuffer
from adiff_env.evolve.filter import DEFAULT_EPSILON, FilterConfig
from adiff_env.evolve.generate import generate
from adiff_env.registry import Checkpoint, CheckpointMetadata, ModelRegistry, adiff_home

# Selection seeds: the rounds pick versions on episodes 50000.. so that the final comparison on
# `adiff bench`'s reset seeds (s * 10000 + i, s < 5) is not on episodes the selection saw.
EVAL_SEED = 50_000
DEFAULT_WEIGHTS = {"goal": 1.0, "path-length": 0.02, "free-cells": 1.0, "coins": 1.0}


@dataclass(frozen=True)
class EvolveConfig:
    """Everything a run needs (saved in ``state.json``). ``base``: ``planner:NAME[@vK]``,
    ``NAME[@vK]`` or a checkpoint path; ``name``: registry name of new versions (default the
    base's); rewards by name with weights (:func:`~adiff_env.evolve.rewards.task_reward`)."""

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

    def __post_init__(self) -> None:
        for key in ("rounds", "samples", "candidates", "finetune_steps", "eval_episodes"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}.")
        if self.act:
            from adiff_env.planners.preset import ActConfig

            known = {f.name for f in dataclasses.fields(ActConfig)}
            unknown = sorted(set(self.act) - known)
            if unknown:
                raise ValueError(f"act: unknown acting options {unknown}; known: {sorted(known)}.")
            ActConfig(**self.act)  # validates the values
        if self.min_improvement < 0:
            raise ValueError(f"min_improvement must be >= 0, got {self.min_improvement}.")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError(f"mix_ratio must be in [0, 1], got {self.mix_ratio}.")
        if self.generation not in ("open-loop", "closed-loop"):
            raise ValueError(f"generation must be 'open-loop' or 'closed-loop', got {self.generation!r}.")
        if self.deadline not in ("geodesic", "horizon"):
            raise ValueError(f"deadline must be 'geodesic' or 'horizon', got {self.deadline!r}.")


class EvolveCallback:
    """Hooks per round; override what you need. ``on_round_end`` returning False stops the run."""

    def on_round_start(self, evolver: SelfEvolver, round_index: int) -> None:
        pass

    def on_round_end(self, evolver: SelfEvolver, record: dict[str, Any]) -> bool:
        return True


def default_score(result: Any) -> float:
    """Gold-coin mazes: ``100 x (coins collected / coins available + success rate) / 2``. Their
    normalized return is the wrong yardstick: a coin's bonus is smaller than the steps at the
    goal that its detour costs. Other envs: the normalized score x100 when the env has
    references, else the mean return."""
    available = result.extra.get("coins_available")
    if available:
        return float(50.0 * (result.extra["coins_mean"] / available + result.success_rate))
    value = result.normalized_score_x100_mean
    return float(value if value is not None else result.return_mean)


class SelfEvolver:
    """Runs the loop of the module doc. ``score_fn(EvalResult) -> float`` decides improvement."""

    score_label = "score"

    def __init__(self, config: EvolveConfig, callbacks: Sequence[EvolveCallback] = (), *,
                 score_fn: Callable[[Any], float] = default_score, registry: ModelRegistry | None = None,
                 resume: bool = False, progress: bool = True, log: Callable[[str], None] = print) -> None:
        self.config, self.callbacks, self.score_fn = config, list(callbacks), score_fn
        self.registry = registry or ModelRegistry()
        self.progress, self.log = progress, log
        spec = config.base.removeprefix("planner:")
        self.base = self.registry.load(spec, kind="trajectory-planner")
        self._open_run(resume, BufferConfig(capacity=config.buffer_capacity, min_distance=config.min_distance,
                                            top_quantile=config.top_quantile, min_reward=config.min_reward,
                                            seed=config.seed))

    def _open_run(self, resume: bool, buffer_config: BufferConfig, distance: Callable[[Any, Any], float] | None = None
                  ) -> None:
        """Work dir, ``state.json`` (new, or read back with ``resume``) and the buffer (empty, or
        the last finished round's) for ``self.config`` and ``self.base``."""
        config = self.config
        self.name = config.name or self.base.metadata.name
        self.workdir = Path(config.workdir) if config.workdir else adiff_home() / "evolve" / self.name
        self.state_path = self.workdir / "state.json"
        if self.state_path.exists() and not resume:
            raise FileExistsError(f"{self.workdir} holds an evolution run; pass resume=True (--resume) or another workdir.")
        if resume and not self.state_path.exists():
            raise FileNotFoundError(f"--resume: no state.json in {self.workdir}; start without --resume.")
        self.state: dict[str, Any] = json.loads(self.state_path.read_text()) if resume else {
            "run_id": uuid.uuid4().hex[:12], "config": dataclasses.asdict(config), "base": self.base.spec,
            "current": self.base.spec, "baseline": None, "best_score": None, "rounds": [],
        }
        self.buffer = TrajectoryBuffer(buffer_config, distance=distance)
        if self.state["rounds"]:
            last = self.workdir / "rounds" / f"r{self.state['rounds'][-1]['round']}" / "buffer"
            if (last / "buffer.json").exists():
                self.buffer = TrajectoryBuffer.load(last, distance=distance)

    @property
    def current(self) -> Checkpoint:
        return self.registry.load(self.state["current"], kind="trajectory-planner")

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict[str, Any]:
        """Run the remaining rounds; returns the state (records per round, current spec)."""
        from torch.utils.tensorboard import SummaryWriter

        self.workdir.mkdir(parents=True, exist_ok=True)
        writer = SummaryWriter(str(self.workdir / "tb"))
        try:
            if self.state["baseline"] is None:
                result = self.evaluate(self.base)
                self.state["baseline"] = self.state["best_score"] = self.score_fn(result)
                self.state["baseline_eval"] = self.summarize(result)
                writer.add_scalar("evolve/score", self.state["baseline"], 0)
                self._write_state()
                self.log(f"baseline {self.base.spec}: score {self.state['baseline']:.2f}")
                self.log(f"{'round':>5} {'kept/gen':>9} {'buffer':>6} {'diversity':>9} {'loss':>8} {'score':>8} {'best':>8}  result")
            start = len(self.state["rounds"]) + 1
            for k in range(start, self.config.rounds + 1):
                for cb in self.callbacks:
                    cb.on_round_start(self, k)
                record = self._recovered(k) or self.round(k)
                self.state["rounds"].append(record)
                self._write_state()
                self._report(record, writer)
                if not all(cb.on_round_end(self, record) for cb in self.callbacks):
                    break
        finally:
            writer.close()
        return self.state

    def round(self, k: int) -> dict[str, Any]:
        """One round (module doc); returns its record."""
        import gymnasium as gym

        from adiff_env.planners.trajectory import TrajectoryPlanner

        cfg, tic = self.config, time.perf_counter()
        folder = self.workdir / "rounds" / f"r{k}"
        shutil.rmtree(folder, ignore_errors=True)  # an unfinished earlier try of this round
        folder.mkdir(parents=True)
        current = self.current
        env = gym.make(cfg.env_id)
        try:
            planner = TrajectoryPlanner.from_checkpoint(current, env, device=cfg.device, seed=cfg.seed + k, **cfg.act)
            gen = generate(planner, env, samples=cfg.samples, candidates=cfg.candidates, reward_weights=cfg.reward_weights,
                           guidance=GuidanceConfig(scale=cfg.guidance_scale, n_guide_steps=cfg.n_guide_steps),
                           filter_config=FilterConfig(epsilon=cfg.epsilon, kp=planner.act.kp, kd=planner.act.kd,
                                                      lookahead=planner.act.lookahead),
                           deadline=cfg.deadline, require_success=cfg.require_success, seed=cfg.seed * 1000 + k,
                           progress=self.progress, mode=cfg.generation)
            outcome = self.buffer.add_batch(gen.items, gen.rewards)
            self.buffer.save(folder / "buffer")
            record: dict[str, Any] = {"round": k, "generated": gen.generated, "kept": len(gen.items),
                                      "infeasible": gen.infeasible, "unsuccessful": gen.unsuccessful,
                                      "buffer_added": outcome, "buffer": self.buffer.stats()}
            if len(self.buffer) == 0:
                record.update(loss=None, score=None, improved=False, registered=None, wall_s=time.perf_counter() - tic,
                              note="buffer empty: nothing to fine-tune on")
                return record
            dataset_id = f"evolve/{self.name}-buffer-v0"
            self.buffer.to_minari(dataset_id, env)
        finally:
            env.close()
        candidate, loss = self.finetune(current, dataset_id, folder, k)
        return self.conclude(record, candidate, loss, current, k, tic)

    def conclude(self, record: dict[str, Any], candidate: Checkpoint, loss: float, current: Checkpoint, k: int,
                 tic: float) -> dict[str, Any]:
        """Evaluate the round's ``candidate``, register it only if it beats the best score by more
        than ``min_improvement``, and complete the round's ``record``."""
        result = self.evaluate(candidate)
        score = self.score_fn(result)
        improved = score > self.state["best_score"] + self.config.min_improvement
        registered = None
        if improved:
            registered = self.promote(candidate, current, result, score, k).spec
            self.state["current"], self.state["best_score"] = registered, score
        record.update(loss=loss, score=score, eval=self.summarize(result), improved=improved, registered=registered,
                      wall_s=time.perf_counter() - tic)
        return record

    def finetune(self, current: Checkpoint, dataset_id: str, folder: Path, k: int) -> tuple[Checkpoint, float]:
        """Fine-tune ``current`` on its dataset + the buffer; the result goes to a scratch registry."""
        from adiff_env.planners.preset import PlannerPreset
        from adiff_env.planners.train import train_planner

        cfg = self.config
        preset = PlannerPreset.from_dict(current.config["preset"], source=f"{current.spec} config")
        train = {"steps": cfg.finetune_steps, "lr": cfg.lr, "warmup_steps": min(50, cfg.finetune_steps // 10),
                 "eval_every": 0, "checkpoint_every": cfg.finetune_steps, "seed": cfg.seed + k}
        if cfg.batch_size:
            train["batch_size"] = cfg.batch_size
        # the network's conditioning is fixed by the checkpoint (older ones had none)
        diffusion = {"global_cond": bool(current.config.get("global_cond", False))}
        preset = preset.replace(train=train, diffusion=diffusion, **({"act": cfg.act} if cfg.act else {}))
        preset = dataclasses.replace(preset, name=self.name)
        scratch = ModelRegistry(folder / "candidate", read_only_roots=[])
        result = train_planner(preset, run_dir=folder / "train", device=cfg.device, progress=self.progress, registry=scratch,
                               init_from=current, extra_dataset=dataset_id, extra_ratio=cfg.mix_ratio)
        return result.checkpoint, result.final_loss

    def evaluate(self, checkpoint: Checkpoint) -> Any:
        """The ``adiff evaluate`` protocol on the target env, same seeds every round."""
        from adiff_env.evaluation import evaluate

        return evaluate(self.config.env_id, f"planner:{checkpoint.path.resolve()}", episodes=self.config.eval_episodes,
                        seed=self.config.eval_seed, agent_options=dict(self.config.act) or None)

    def promote(self, candidate: Checkpoint, parent: Checkpoint, result: Any, score: float, k: int) -> Checkpoint:
        """Register ``candidate`` as a new version of ``name`` with ``parent``'s spec as parent."""
        meta = dataclasses.replace(
            candidate.metadata, env=self.config.env_id, parent=parent.spec, name=None, version=None, created_at=None,
            files={}, git_commit=None, scores={"score": score, **self.summarize(result)},
            extra={**candidate.metadata.extra, "evolve_run": self.state["run_id"], "evolve_round": k,
                   "buffer_size": len(self.buffer)},
        )
        return self.registry.save(self.name, meta, tensors=candidate.tensors, config=candidate.config)

    def summarize(self, result: Any) -> dict[str, Any]:
        """The JSON summary of an evaluation kept in ``state.json`` and the version's scores."""
        return _eval_summary(result)

    # ------------------------------------------------------------------ bookkeeping
    def _recovered(self, k: int) -> dict[str, Any] | None:
        """A version this run registered for round ``k`` before an interruption, as a record."""
        for v in reversed(self.registry.versions(self.name)):
            try:
                meta = self.registry.load(f"{self.name}@v{v}").metadata
            except Exception:  # noqa: BLE001 - an unreadable version is not ours
                continue
            if meta.extra.get("evolve_run") == self.state["run_id"] and meta.extra.get("evolve_round") == k:
                spec = f"{self.name}@v{v}"
                self.state["current"], self.state["best_score"] = spec, meta.scores["score"]
                return {"round": k, "score": meta.scores["score"], "improved": True, "registered": spec, "recovered": True,
                        "generated": None, "kept": None, "loss": meta.extra.get("final_loss"), "buffer": self.buffer.stats()}
        return None

    def _write_state(self) -> None:
        tmp = self.state_path.with_name(".state.json.tmp")
        tmp.write_text(json.dumps(self.state, indent=2, default=_json_default))
        os.replace(tmp, self.state_path)

    def _report(self, rec: dict[str, Any], writer: Any) -> None:
        k, buf = rec["round"], rec.get("buffer") or {}
        what = f"registered {rec['registered']}" if rec.get("registered") else (
            rec.get("note") or f"no improvement: kept {self.state['current']}")
        loss = f"{rec['loss']:.4f}" if rec.get("loss") is not None else "-"
        score = f"{rec['score']:.2f}" if rec.get("score") is not None else "-"
        div = f"{buf['diversity']:.3f}" if "diversity" in buf else "-"
        self.log(f"{k:>5} {rec.get('kept')!s:>4}/{rec.get('generated')!s:<4} {buf.get('size', 0):>6} {div:>9} {loss:>8} "
                 f"{score:>8} {self.state['best_score']:>8.2f}  {what}")
        for key, value in (("score", rec.get("score")), ("best_score", self.state["best_score"]), ("kept", rec.get("kept")),
                           ("generated", rec.get("generated")), ("loss", rec.get("loss")), ("buffer_size", buf.get("size")),
                           ("buffer_diversity", buf.get("diversity")), ("round_wall_s", rec.get("wall_s"))):
            if value is not None:
                writer.add_scalar(f"evolve/{key}", value, k)
        writer.flush()
        self.plot()

    def plot(self) -> Path:
        """``score_by_round.png``: score per round, the baseline and registered versions marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rounds = [r for r in self.state["rounds"] if r.get("score") is not None]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.axhline(self.state["baseline"], color="grey", ls="--", label=f"base {self.state['base']}")
        ax.plot([r["round"] for r in rounds], [r["score"] for r in rounds], "o-", label="candidate")
        reg = [r for r in rounds if r.get("registered")]
        ax.plot([r["round"] for r in reg], [r["score"] for r in reg], "*", ms=12, color="tab:green", label="registered")
        ax.set_xlabel("round")
        ax.set_title(f"self-evolution on {self.config.env_id}", fontsize=9)
        ax.set_ylabel(self.score_label)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = self.workdir / "score_by_round.png"
        tmp = self.workdir / ".score_by_round.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, out)
        return out


def _eval_summary(result: Any) -> dict[str, Any]:
    out = {"return_mean": result.return_mean, "normalized_score_x100_mean": result.normalized_score_x100_mean,
           "success_rate": result.success_rate, "episodes": result.episodes, "seed": result.seed}
    for key in ("coins_mean", "coins_available"):
        if key in result.extra:
            out[key] = result.extra[key]
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
