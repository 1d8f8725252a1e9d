"""The seam between the evolution loop and a domain: :class:`EvolveDomain` and its records.

:class:`~adiff_env.evolve.loop.EvolutionLoop` owns the run (work dir, ``state.json`` and
resume, the buffer, the registry and "register only if better", TensorBoard, the round table,
the score plot, callbacks). A domain (``adiff_env/maze/evolve.py``,
``adiff_env/code/evolve.py``, or one of yours) supplies what differs per domain:

==========================================  ===============================================
method                                      what the domain does
==========================================  ===============================================
``loop_config() -> LoopConfig``             base spec, registry name, rounds, threshold, dir
``buffer_config() -> BufferConfig``         the buffer's quality, diversity and capacity rules
``buffer_metric() -> ItemMetric | None``    diversity features/distance (None: trajectories)
``load(registry, spec) -> Checkpoint``      load a checkpoint and check it is this domain's
``open(run: RunContext)``                   check the inputs (datasets, sandbox ...) up front
``generate(current, round) -> Generated``   new items with rewards, from the current model
``finetune(current, buffer, folder, round)``  train a candidate -> ``(Checkpoint, loss)``
``evaluate(checkpoint) -> Evaluation``      score + JSON summary (same episodes every round)
``registration(candidate) -> Registration`` metadata fields / extra files of a new version
``close()``                                 release what ``open`` or the rounds acquired
==========================================  ===============================================

plus the attributes ``kind`` (e.g. ``"maze"``, recorded in ``state.json``), ``target`` (what it
evolves on, for titles), ``score_label`` (the plot's y label) and ``config`` (a dataclass, saved
in ``state.json``). Nothing here imports a domain, the registry or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable

    from adiff_env.evolve.buffer import BufferConfig, ItemMetric, TrajectoryBuffer
    from adiff_env.registry import Checkpoint, ModelRegistry


@dataclass(frozen=True)
class LoopConfig:
    """The loop's part of a run's config.

    ``base``: the spec the domain's :meth:`EvolveDomain.load` reads (e.g. ``planner:NAME@v1``);
    ``name``: registry name of new versions (default: the base's); ``rounds``: rounds to run;
    ``min_improvement``: a candidate is registered only if its score beats the best so far by
    more than this (a domain's config may forbid negative values); ``workdir``: run folder (default ``$ADIFF_HOME/evolve/NAME``)."""

    base: str
    name: str | None = None
    rounds: int = 3
    min_improvement: float = 0.0
    workdir: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base, str) or not self.base:
            raise ValueError(f"base must be a non-empty checkpoint spec, got {self.base!r}.")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}.")


@dataclass(frozen=True)
class RunContext:
    """What the loop hands a domain in :meth:`EvolveDomain.open`: the registry versions are read
    from and written to, the registry name of new versions, the base checkpoint, the work dir."""

    registry: ModelRegistry
    name: str
    base: Checkpoint
    workdir: Path
    progress: bool = True
    log: Callable[[str], None] = print


class RunSlot:
    """The run a domain was opened with, for domains to inherit: ``open`` sets ``self._run``,
    ``close`` clears it, and :attr:`run` raises a clear error when it is read outside a run."""

    _run: RunContext | None = None

    @property
    def run(self) -> RunContext:
        if self._run is None:
            raise RuntimeError(f"{type(self).__name__}: open(run) first (EvolutionLoop.run does).")
        return self._run


def require_base_dataset(run: RunContext, collect_hint: str) -> None:
    """Fail before any work when the base planner's training dataset, which fine-tuning mixes
    in, is not on disk; ``collect_hint`` says how to collect it."""
    from adiff_env.datasets.collect import datasets_root

    dataset = (run.base.config.get("preset") or {}).get("dataset")
    if dataset and not (datasets_root() / dataset / "data").is_dir():
        raise FileNotFoundError(
            f"the base planner {run.base.spec} was trained on the Minari dataset {dataset!r}, which fine-tuning "
            f"mixes in, but it is not in {datasets_root()}; collect it first: {collect_hint}")


@dataclass
class Generated:
    """One round's generation: ``items`` with their ``rewards`` (offered to the buffer),
    ``generated`` (attempts), ``kept`` (items that count as kept, e.g. those passing every test)
    and domain counts in ``extras`` (JSON-ready; they go into the round's record)."""

    items: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    generated: int = 0
    kept: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.items) != len(self.rewards):
            raise ValueError(f"items and rewards differ in length: {len(self.items)} vs {len(self.rewards)}.")
        if self.kept is None:
            self.kept = len(self.items)


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's evaluation: ``score`` (higher is better; decides registration) and a
    JSON-ready ``summary`` (kept in ``state.json`` and in the new version's scores)."""

    score: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Registration:
    """What a domain adds to a new version: ``metadata`` (fields of
    :class:`~adiff_env.registry.CheckpointMetadata` to set, e.g. ``{"env": ENV_ID}``) and
    ``extra_files`` (file name -> source path, e.g. ``{"tokenizer.json": PATH}``)."""

    metadata: dict[str, Any] = field(default_factory=dict)
    extra_files: dict[str, Path] = field(default_factory=dict)


@runtime_checkable
class EvolveDomain(Protocol):
    """What a domain supplies to :class:`~adiff_env.evolve.loop.EvolutionLoop` (module doc)."""

    kind: str
    target: str
    score_label: str
    config: Any

    def loop_config(self) -> LoopConfig: ...

    def buffer_config(self) -> BufferConfig: ...

    def buffer_metric(self) -> ItemMetric | None: ...

    def load(self, registry: ModelRegistry, spec: str) -> Checkpoint: ...

    def open(self, run: RunContext) -> None: ...

    def generate(self, current: Checkpoint, round_index: int) -> Generated: ...

    def finetune(self, current: Checkpoint, buffer: TrajectoryBuffer, folder: Path,
                 round_index: int) -> tuple[Checkpoint, float]: ...

    def evaluate(self, checkpoint: Checkpoint) -> Evaluation: ...

    def registration(self, candidate: Checkpoint) -> Registration: ...

    def close(self) -> None: ...
