"""The self-evolution loop (AdaptDiffuser), domain-agnostic: generate -> buffer -> fine-tune ->
evaluate -> register only if better.

``EvolutionLoop(domain, callbacks=[...]).run()`` with an
:class:`~adiff_env.evolve.domain.EvolveDomain` (the maze's
:class:`~adiff_env.maze.evolve.MazeEvolveDomain`, the code's
:class:`~adiff_env.code.evolve.CodeEvolveDomain`, or yours). Before round 1 the base is
evaluated (the baseline). Per round ``k``:

1. ``domain.generate(current, k)``: new items with rewards (a :class:`Generated`); with an
   ``executor`` (:mod:`adiff_env.evolve.generation`, e.g. Ray actors for ``--ray``) the
   domain's shards run there instead and come back merged in shard order;
2. the buffer (:class:`~adiff_env.evolve.buffer.TrajectoryBuffer`, rules and metric from the
   domain) takes them; it is saved atomically under ``rounds/rK/buffer``; an empty buffer ends
   the round (nothing to fine-tune on);
3. ``domain.finetune(current, buffer, rounds/rK, k)``: a candidate in a scratch registry;
4. ``domain.evaluate(candidate)``: its score; the candidate is registered as a new version of
   ``name`` (parent = the current spec, tagged with the run id and round, plus the domain's
   :class:`Registration`) ONLY if the score beats the best so far by more than
   ``min_improvement``; otherwise the current version stays and the round says so.

Each round yields a :class:`RoundRecord`; callbacks see each round start and end
(``on_round_end`` returning False stops the run).

Files in ``workdir`` (default ``$ADIFF_HOME/evolve/NAME``): ``state.json`` (an
:class:`EvolutionState`: format, run id, git commit, the domain kind, its config and the loop
config, baseline, one record per finished round; written atomically after each round, so
``resume=True`` continues after the last finished round), ``rounds/rK/`` (buffer, training run,
candidate), ``tb/`` (TensorBoard scalars), ``score_by_round.png``. A registry version is
written whole or not at all and carries the run id and round, so a resumed run finds a version
registered just before an interruption instead of registering the round twice.

``state.json`` format 2 (this module). A file without ``format`` (written by the loop before
it was split into loop + domain) is read as format 1: its records are converted (``eval``
becomes ``evaluation``, domain counts move into ``extras``); a newer format is refused.
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
from typing import Any, cast

from adiff_env.evolve.buffer import TrajectoryBuffer
from adiff_env.evolve.domain import Evaluation, EvolveDomain, Generated, RunContext
from adiff_env.evolve.generation import GenerationExecutor, ShardedDomain, check_sharded
from adiff_env.registry import Checkpoint, ModelRegistry, adiff_home, git_commit

STATE_FORMAT = 2
__all__ = ["EvolutionLoop", "EvolutionState", "EvolveCallback", "Generated", "RoundRecord", "STATE_FORMAT"]


@dataclass
class RoundRecord:
    """One finished round. ``generated``/``kept``: the domain's counts; ``buffer_added``:
    outcomes of the buffer's rules; ``buffer``: its stats after the round; ``loss``: final
    fine-tuning loss; ``score``/``evaluation``: the candidate's; ``improved``/``registered``:
    whether it became a new version (its spec); ``note``: why a round stopped early;
    ``recovered``: the round's version was found in the registry after an interruption;
    ``extras``: domain counts (e.g. ``infeasible``, ``tasks_solved``)."""

    round: int
    generated: int | None = None
    kept: int | None = None
    buffer_added: dict[str, int] = field(default_factory=dict)
    buffer: dict[str, Any] = field(default_factory=dict)
    loss: float | None = None
    score: float | None = None
    evaluation: dict[str, Any] | None = None
    improved: bool = False
    registered: str | None = None
    wall_s: float | None = None
    note: str | None = None
    recovered: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], legacy: bool = False) -> RoundRecord:
        """Read a record of ``state.json``; ``legacy`` (format 1): ``eval`` is the evaluation and
        keys that are no field go into ``extras``."""
        data = dict(data)
        names = {f.name for f in dataclasses.fields(cls)}
        if legacy:
            if "eval" in data:
                data["evaluation"] = data.pop("eval")
            extras = {k: data.pop(k) for k in list(data) if k not in names}
            data["extras"] = {**extras, **data.get("extras", {})}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"state.json: unknown round record keys {unknown}; known: {sorted(names)}.")
        return cls(**data)


@dataclass
class EvolutionState:
    """What ``state.json`` holds (module doc); ``rounds`` are :class:`RoundRecord`."""

    run_id: str
    domain: str
    config: dict[str, Any]
    loop: dict[str, Any]
    base: str
    current: str
    baseline: float | None = None
    baseline_eval: dict[str, Any] | None = None
    best_score: float | None = None
    rounds: list[RoundRecord] = field(default_factory=list)
    git_commit: str | None = None
    format: int = STATE_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "state.json") -> EvolutionState:
        """Read format 2, or convert format 1 (module doc); other formats raise ``ValueError``."""
        fmt = data.get("format", 1)
        if fmt not in (1, STATE_FORMAT):
            raise ValueError(f"{source} has state format {fmt!r}; this version reads formats 1 and {STATE_FORMAT}. "
                             "Resume it with the adiff-env version that wrote it, or start a new run in another workdir.")
        data = dict(data)
        legacy = fmt == 1
        if legacy:
            data.setdefault("domain", "")
            data.setdefault("loop", {})
            data["format"] = STATE_FORMAT
        data["rounds"] = [RoundRecord.from_dict(r, legacy=legacy) for r in data.get("rounds", [])]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; known: {sorted(names)}.")
        return cls(**data)


class EvolveCallback:
    """Hooks per round; override what you need. ``on_round_end`` returning False stops the run."""

    def on_round_start(self, loop: EvolutionLoop, round_index: int) -> None:
        pass

    def on_round_end(self, loop: EvolutionLoop, record: RoundRecord) -> bool:
        return True


class EvolutionLoop:
    """Runs the loop of the module doc for ``domain``.

    Args:
        domain: an :class:`~adiff_env.evolve.domain.EvolveDomain`.
        callbacks: :class:`EvolveCallback` hooks.
        registry: where versions are read and registered (default ``ModelRegistry()``).
        resume: continue the run in the work dir after its last finished round.
        progress: progress bars (passed to the domain).
        log: where the round table goes (default ``print``).
        executor: where each round's generation runs
            (:class:`~adiff_env.evolve.generation.GenerationExecutor`; the domain must be a
            :class:`~adiff_env.evolve.generation.ShardedDomain`); default: ``domain.generate``.
            The caller owns it (and closes it).
    """

    def __init__(self, domain: EvolveDomain, callbacks: Sequence[EvolveCallback] = (), *,
                 registry: ModelRegistry | None = None, resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print, executor: GenerationExecutor | None = None) -> None:
        if not isinstance(domain, EvolveDomain):
            missing = [m for m in ("kind", "target", "score_label", "config", "loop_config", "buffer_config", "buffer_metric",
                                   "load", "open", "generate", "finetune", "evaluate", "registration", "close")
                       if not hasattr(domain, m)]
            raise TypeError(f"{type(domain).__name__} is not an EvolveDomain; it lacks {missing}.")
        if executor is not None:
            check_sharded(domain)
        self.domain, self.callbacks, self.executor = domain, list(callbacks), executor
        self.config = domain.loop_config()
        self.registry = registry or ModelRegistry()
        self.progress, self.log = progress, log
        self.base = domain.load(self.registry, self.config.base)
        name = self.config.name or self.base.metadata.name
        if not name:
            raise ValueError(f"the base {self.config.base!r} has no registry name; pass a name for the evolved versions.")
        self.name: str = name
        self.workdir = Path(self.config.workdir) if self.config.workdir else adiff_home() / "evolve" / self.name
        self.state_path = self.workdir / "state.json"
        if self.state_path.exists() and not resume:
            raise FileExistsError(f"{self.workdir} holds an evolution run; pass resume=True (--resume) or another workdir.")
        if resume and not self.state_path.exists():
            raise FileNotFoundError(f"--resume: no state.json in {self.workdir}; start without --resume.")
        if resume:
            self.state = EvolutionState.from_dict(json.loads(self.state_path.read_text()), str(self.state_path))
            if self.state.domain and self.state.domain != domain.kind:
                raise ValueError(f"{self.state_path} is a {self.state.domain!r} run; it cannot resume as {domain.kind!r}.")
            self.state.domain = domain.kind
        else:
            self.state = EvolutionState(
                run_id=uuid.uuid4().hex[:12], domain=domain.kind, config=dataclasses.asdict(domain.config),
                loop=dataclasses.asdict(self.config), base=self.base.spec, current=self.base.spec, git_commit=git_commit())
        metric = domain.buffer_metric()
        self._buffer_args: dict[str, Any] = {} if metric is None else {"distance": metric.distance, "features": metric.features}
        self.buffer = TrajectoryBuffer(domain.buffer_config(), **self._buffer_args)
        if self.state.rounds:
            last = self.workdir / "rounds" / f"r{self.state.rounds[-1].round}" / "buffer"
            if (last / "buffer.json").exists():
                self.buffer = TrajectoryBuffer.load(last, **self._buffer_args)

    @property
    def current(self) -> Checkpoint:
        """The current version (the base, or the last registered one)."""
        return self.domain.load(self.registry, self.state.current)

    # ------------------------------------------------------------------ the loop
    def run(self) -> EvolutionState:
        """Run the remaining rounds; returns the state (records per round, current spec)."""
        from torch.utils.tensorboard import SummaryWriter

        self.domain.open(RunContext(registry=self.registry, name=self.name, base=self.base, workdir=self.workdir,
                                    progress=self.progress, log=self.log))
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            writer = SummaryWriter(str(self.workdir / "tb"))
            try:
                self._rounds(writer)
            finally:
                writer.close()
        finally:
            self.domain.close()
        return self.state

    def _rounds(self, writer: Any) -> None:
        state = self.state
        if state.baseline is None:
            ev = self.domain.evaluate(self.base)
            state.baseline = state.best_score = float(ev.score)
            state.baseline_eval = ev.summary
            writer.add_scalar("evolve/score", state.baseline, 0)
            self._write_state()
            self.log(f"baseline {self.base.spec}: score {state.baseline:.2f}")
            self.log(f"{'round':>5} {'kept/gen':>9} {'buffer':>6} {'diversity':>9} {'loss':>8} {'score':>8} {'best':>8}  result")
        for k in range(len(state.rounds) + 1, self.config.rounds + 1):
            for cb in self.callbacks:
                cb.on_round_start(self, k)
            record = self._recovered(k) or self.round(k)
            state.rounds.append(record)
            self._write_state()
            self._report(record, writer)
            if not all(cb.on_round_end(self, record) for cb in self.callbacks):
                break

    def round(self, k: int) -> RoundRecord:
        """One round (module doc); returns its record."""
        tic = time.perf_counter()
        folder = self.workdir / "rounds" / f"r{k}"
        shutil.rmtree(folder, ignore_errors=True)  # an unfinished earlier try of this round
        folder.mkdir(parents=True)
        current = self.current
        if self.executor is not None:  # the domain was checked to be a ShardedDomain in __init__
            gen = self.executor.generate(cast("ShardedDomain", self.domain), current, k)
        else:
            gen = self.domain.generate(current, k)
        outcome = self.buffer.add_batch(gen.items, gen.rewards)
        self.buffer.save(folder / "buffer")
        record = RoundRecord(round=k, generated=gen.generated, kept=gen.kept, buffer_added=outcome,
                             buffer=self.buffer.stats(), extras=dict(gen.extras))
        if len(self.buffer) == 0:
            record.note, record.wall_s = "buffer empty: nothing to fine-tune on", time.perf_counter() - tic
            return record
        candidate, loss = self.domain.finetune(current, self.buffer, folder, k)
        ev = self.domain.evaluate(candidate)
        record.loss, record.score, record.evaluation = loss, float(ev.score), ev.summary
        record.improved = record.score > self._best + self.config.min_improvement
        if record.improved:
            record.registered = self.promote(candidate, current, ev, k).spec
            self.state.current, self.state.best_score = record.registered, record.score
        record.wall_s = time.perf_counter() - tic
        return record

    def promote(self, candidate: Checkpoint, parent: Checkpoint, evaluation: Evaluation, k: int) -> Checkpoint:
        """Register ``candidate`` as a new version of ``name`` with ``parent``'s spec as parent."""
        extra = self.domain.registration(candidate)
        meta = dataclasses.replace(
            candidate.metadata, parent=parent.spec, name=None, version=None, created_at=None, files={}, git_commit=None,
            scores={"score": evaluation.score, **evaluation.summary},
            extra={**candidate.metadata.extra, "evolve_run": self.state.run_id, "evolve_round": k,
                   "buffer_size": len(self.buffer)},
            **extra.metadata,
        )
        return self.registry.save(self.name, meta, tensors=candidate.tensors, config=candidate.config,
                                  extra_files=extra.extra_files or None)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def _best(self) -> float:
        if self.state.best_score is None:
            raise RuntimeError("no baseline yet: run() evaluates the base before the first round.")
        return float(self.state.best_score)

    def _recovered(self, k: int) -> RoundRecord | None:
        """A version this run registered for round ``k`` before an interruption, as a record."""
        for v in reversed(self.registry.versions(self.name)):
            try:
                meta = self.registry.load(f"{self.name}@v{v}").metadata
            except Exception:  # noqa: BLE001 - an unreadable version is not ours
                continue
            if meta.extra.get("evolve_run") == self.state.run_id and meta.extra.get("evolve_round") == k:
                spec = f"{self.name}@v{v}"
                self.state.current, self.state.best_score = spec, meta.scores["score"]
                return RoundRecord(round=k, score=meta.scores["score"], improved=True, registered=spec, recovered=True,
                                   loss=meta.extra.get("final_loss"), buffer=self.buffer.stats())
        return None

    def _write_state(self) -> None:
        tmp = self.state_path.with_name(".state.json.tmp")
        tmp.write_text(json.dumps(self.state.to_dict(), indent=2, default=_json_default))
        os.replace(tmp, self.state_path)

    def _report(self, rec: RoundRecord, writer: Any) -> None:
        buf, best = rec.buffer, self._best
        what = f"registered {rec.registered}" if rec.registered else (rec.note or f"no improvement: kept {self.state.current}")
        loss = f"{rec.loss:.4f}" if rec.loss is not None else "-"
        score = f"{rec.score:.2f}" if rec.score is not None else "-"
        div = f"{buf['diversity']:.3f}" if "diversity" in buf else "-"
        self.log(f"{rec.round:>5} {rec.kept!s:>4}/{rec.generated!s:<4} {buf.get('size', 0):>6} {div:>9} {loss:>8} "
                 f"{score:>8} {best:>8.2f}  {what}")
        for key, value in (("score", rec.score), ("best_score", best), ("kept", rec.kept), ("generated", rec.generated),
                           ("loss", rec.loss), ("buffer_size", buf.get("size")), ("buffer_diversity", buf.get("diversity")),
                           ("round_wall_s", rec.wall_s)):
            if value is not None:
                writer.add_scalar(f"evolve/{key}", value, rec.round)
        writer.flush()
        self.plot()

    def plot(self) -> Path:
        """``score_by_round.png``: score per round, the baseline and registered versions marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        scored = [(r.round, float(r.score), bool(r.registered)) for r in self.state.rounds if r.score is not None]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        if self.state.baseline is not None:
            ax.axhline(self.state.baseline, color="grey", ls="--", label=f"base {self.state.base}")
        ax.plot([k for k, _, _ in scored], [s for _, s, _ in scored], "o-", label="candidate")
        reg = [(k, s) for k, s, registered in scored if registered]
        ax.plot([k for k, _ in reg], [s for _, s in reg], "*", ms=12, color="tab:green", label="registered")
        ax.set_xlabel("round")
        ax.set_title(f"self-evolution on {self.domain.target}", fontsize=9)
        ax.set_ylabel(self.domain.score_label)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = self.workdir / "score_by_round.png"
        tmp = self.workdir / ".score_by_round.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, out)
        return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
