"""Where a round's generation runs: the sharded-generation seam of the evolution loop.

A round's generation (guided samples + the domain's filter, e.g. the maze's MuJoCo
consistency check or the code domain's sandbox tests) is the part of a round that scales out.
A domain that supports it implements :class:`ShardedDomain` besides
:class:`~adiff_env.evolve.domain.EvolveDomain`:

=================================================  ==========================================
method                                             what the domain does
=================================================  ==========================================
``generation_shards(current, round) -> [shard]``   the round's work as picklable shards, each
                                                   with its seeds derived from the round's seed
``generation_model(current) -> model``             what a worker needs of the weights (picklable;
                                                   shipped once per round)
``generation_worker(progress) -> worker``          a picklable :class:`GenerationWorker`: builds
                                                   its own env / sandbox on first use
=================================================  ==========================================

A :class:`GenerationExecutor` runs the shards and merges their :class:`Generated` in shard
order (:func:`merge_generated`): :class:`LocalExecutor` in this process, or
:class:`~adiff_env.distributed.ray_evolve.RayGenerationExecutor` on Ray actors (each actor
holds one worker, i.e. its own env, and the round's weights). Because the seeds belong to the
shards, not to where they run, the same shards give the same items in the same order on any
executor, so the buffer, fine-tuning and registration on the driver see the same data. The
shard count is part of the domain's config (it changes the seeds, so it is recorded); the
executor is not.

``EvolutionLoop(domain, executor=...)`` uses the executor for every round's generation;
without one the loop calls ``domain.generate`` (which a sharded domain implements as
:func:`run_local`). Nothing here imports torch, ray or a domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from adiff_env.evolve.domain import Generated

if TYPE_CHECKING:
    from adiff_env.registry import Checkpoint

__all__ = ["GenerationExecutor", "GenerationWorker", "LocalExecutor", "ShardedDomain", "check_sharded", "merge_generated",
           "run_local", "split_range"]


@runtime_checkable
class GenerationWorker(Protocol):
    """Generates one shard with a model: ``run(model, shard) -> Generated``; ``close()`` releases
    what it built (env, sandbox). It must pickle before its first ``run`` (it travels to actors)."""

    def run(self, model: Any, shard: Any) -> Generated: ...

    def close(self) -> None: ...


@runtime_checkable
class ShardedDomain(Protocol):
    """The generation half of a domain that can run on several workers (module doc)."""

    def generation_shards(self, current: Checkpoint, round_index: int) -> list[Any]: ...

    def generation_model(self, current: Checkpoint) -> Any: ...

    def generation_worker(self, progress: bool = False) -> GenerationWorker: ...


@runtime_checkable
class GenerationExecutor(Protocol):
    """Runs a round's shards somewhere; returns the merged :class:`Generated` (shard order)."""

    def generate(self, domain: ShardedDomain, current: Checkpoint, round_index: int) -> Generated: ...

    def close(self) -> None: ...


def merge_generated(parts: Sequence[Generated]) -> Generated:
    """One :class:`Generated` from shards' results, in the given order: items and rewards
    concatenated, ``generated``/``kept`` summed, ``extras`` merged key by key (numbers summed,
    lists concatenated; a key missing in a part counts as 0 / empty)."""
    items: list[Any] = []
    rewards: list[float] = []
    extras: dict[str, Any] = {}
    generated = kept = 0
    for part in parts:
        items.extend(part.items)
        rewards.extend(part.rewards)
        generated += part.generated
        kept += int(part.kept if part.kept is not None else len(part.items))
        for key, value in part.extras.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, list)):
                raise TypeError(f"Generated.extras[{key!r}] must be a number or a list to merge shards, got "
                                f"{type(value).__name__}.")
            if key not in extras:
                extras[key] = list(value) if isinstance(value, list) else value
            elif isinstance(value, list) != isinstance(extras[key], list):
                raise TypeError(f"Generated.extras[{key!r}] is a list in one shard and a number in another.")
            elif isinstance(value, list):
                extras[key].extend(value)
            else:
                extras[key] += value
    return Generated(items=items, rewards=rewards, generated=generated, kept=kept, extras=extras)


def run_local(domain: ShardedDomain, current: Checkpoint, round_index: int, progress: bool = False) -> Generated:
    """The round's shards one after the other in this process, on one worker."""
    worker = domain.generation_worker(progress)
    try:
        model = domain.generation_model(current)
        return merge_generated([worker.run(model, shard) for shard in domain.generation_shards(current, round_index)])
    finally:
        worker.close()


class LocalExecutor:
    """:class:`GenerationExecutor` in this process (:func:`run_local`)."""

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def generate(self, domain: ShardedDomain, current: Checkpoint, round_index: int) -> Generated:
        return run_local(domain, current, round_index, self.progress)

    def close(self) -> None:
        pass


def check_sharded(domain: Any) -> None:
    """``TypeError`` naming what ``domain`` lacks to run its generation on an executor."""
    missing = [m for m in ("generation_shards", "generation_model", "generation_worker") if not hasattr(domain, m)]
    if missing:
        raise TypeError(f"{type(domain).__name__} cannot run its generation on an executor (e.g. --ray): it lacks "
                        f"{missing} (adiff_env.evolve.generation.ShardedDomain).")


def split_range(n: int, shards: int) -> list[tuple[int, int]]:
    """``[0, n)`` in ``shards`` contiguous ranges of near-equal size (the first ``n % shards``
    one longer); empty ranges are left out. ``split_range(5, 2) == [(0, 3), (3, 5)]``."""
    if n < 0 or shards < 1:
        raise ValueError(f"need n >= 0 and shards >= 1, got {n} and {shards}.")
    size, extra = divmod(n, shards)
    out, start = [], 0
    for i in range(shards):
        stop = start + size + (i < extra)
        if stop > start:
            out.append((start, stop))
        start = stop
    return out
