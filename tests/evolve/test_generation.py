"""The sharded-generation seam (no Ray, no torch): merging shards, splitting a round, the local
executor, and the loop refusing an executor for a domain without shards."""

from __future__ import annotations

import pytest

from adiff_env.evolve.domain import Generated
from adiff_env.evolve.generation import (
    GenerationWorker,
    LocalExecutor,
    ShardedDomain,
    check_sharded,
    merge_generated,
    run_local,
    split_range,
)


def test_split_range_covers_every_index_once_in_order():
    assert split_range(5, 2) == [(0, 3), (3, 5)]
    assert split_range(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert split_range(2, 3) == [(0, 1), (1, 2)]  # empty shards are left out
    assert split_range(0, 2) == []
    for n, s in ((17, 3), (64, 8), (7, 7)):
        ranges = split_range(n, s)
        assert [i for a, b in ranges for i in range(a, b)] == list(range(n))
    with pytest.raises(ValueError, match="shards >= 1"):
        split_range(3, 0)


def test_merge_keeps_shard_order_and_sums_counts():
    a = Generated(items=["a0", "a1"], rewards=[1.0, 0.5], generated=3, extras={"infeasible": 1, "dev": [0.1]})
    b = Generated(items=["b0"], rewards=[0.2], generated=2, kept=0, extras={"infeasible": 1, "unsuccessful": 1, "dev": [0.3]})
    merged = merge_generated([a, b])
    assert merged.items == ["a0", "a1", "b0"] and merged.rewards == [1.0, 0.5, 0.2]
    assert (merged.generated, merged.kept) == (5, 2)
    assert merged.extras == {"infeasible": 2, "unsuccessful": 1, "dev": [0.1, 0.3]}
    assert a.extras["dev"] == [0.1]  # the parts are not modified
    with pytest.raises(TypeError, match="'note'"):
        merge_generated([Generated(extras={"note": "text"})])


class CountingWorker:
    def __init__(self) -> None:
        self.closed = False

    def run(self, model, shard):
        start, stop = shard
        return Generated(items=[f"{model}:{i}" for i in range(start, stop)], rewards=[float(i) for i in range(start, stop)],
                         generated=stop - start)

    def close(self) -> None:
        self.closed = True


class ShardedFake:
    def __init__(self, n: int, shards: int) -> None:
        self.n, self.shards, self.workers = n, shards, []

    def generation_shards(self, current, round_index):
        return split_range(self.n, self.shards)

    def generation_model(self, current):
        return f"m{current}"

    def generation_worker(self, progress=False):
        self.workers.append(CountingWorker())
        return self.workers[-1]


def test_local_executor_runs_every_shard_on_one_worker_and_closes_it():
    domain = ShardedFake(5, 3)
    assert isinstance(domain, ShardedDomain) and isinstance(CountingWorker(), GenerationWorker)
    gen = LocalExecutor().generate(domain, 7, 1)
    assert gen.items == [f"m7:{i}" for i in range(5)] and gen.generated == 5
    assert len(domain.workers) == 1 and domain.workers[0].closed
    assert run_local(ShardedFake(5, 1), 7, 1).items == gen.items  # this fake's items do not depend on the shards


def test_an_executor_needs_a_sharded_domain():
    with pytest.raises(TypeError, match=r"lacks \['generation_shards', 'generation_model', 'generation_worker'\]"):
        check_sharded(object())
    from adiff_env.evolve.loop import EvolutionLoop

    with pytest.raises(TypeError, match="cannot run its generation on an executor"):
        EvolutionLoop(_PlainDomain(), executor=LocalExecutor())


class _PlainDomain:
    """Has every EvolveDomain member (so the loop's own check passes) but no shards."""

    kind, target, score_label, config = "plain", "t", "s", None

    def __getattr__(self, name):
        if name.startswith("generation_"):
            raise AttributeError(name)
        return lambda *a, **k: None
