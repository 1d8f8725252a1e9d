"""``adiff maze evolve ... --ray [ADDRESS]``: a round's generation and filter on Ray actors.

:class:`RayGenerationExecutor` is a :class:`~adiff_env.evolve.generation.GenerationExecutor`.
Its ``actors`` :class:`GenerationActor` s (``num_cpus=1``, one torch thread) live for the
whole run; each holds one of the domain's generation workers, i.e. its own env (the maze's
MuJoCo consistency filter runs there) or sandbox. Per round the driver puts the weights in
the object store once (``ray.put``); an actor fetches them on its first shard of the round and
keeps them for the round's other shards. The driver keeps one shard in flight per actor and
merges the results in shard order, so the buffer, fine-tuning and registration (which stay on
the driver) see exactly what the local run with the same shard count gives.

Nothing is dropped silently: Ray restarts a dead actor process and retries its shard
(``max_restarts`` / ``max_task_retries``); a shard that raises is retried ``retries`` times
(on a fresh actor if its actor died for good); a shard that still fails ends the round with
:class:`ShardsFailedError`, naming each failed shard, and nothing of the round reaches the
buffer (the round can be rerun with ``--resume``).

``ray`` is the optional extra (``pip install 'adiff-env[ray]'``), imported only in the calls.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from adiff_env.distributed.ray_bench import connect
from adiff_env.distributed.ray_queue import _ray, run_queue
from adiff_env.evolve.generation import check_sharded, merge_generated

if TYPE_CHECKING:
    from adiff_env.evolve.domain import Generated
    from adiff_env.evolve.generation import GenerationWorker, ShardedDomain
    from adiff_env.registry import Checkpoint


class ShardsFailedError(RuntimeError):
    """Shards of a round that failed after their retries (``failures``: shard index -> error)."""

    def __init__(self, round_index: int, failures: dict[int, str], total: int) -> None:
        self.round_index, self.failures = round_index, failures
        listing = "; ".join(f"shard {i}: {err}" for i, err in sorted(failures.items()))
        super().__init__(f"round {round_index}: {len(failures)} of {total} generation shard(s) failed after retries; "
                         f"nothing of this round went into the buffer: {listing}")


class GenerationActor:
    """The actor body: one torch thread, the env ids registered, one generation worker; the
    round's model is fetched from the object store once per round (``token``)."""

    def __init__(self, worker: GenerationWorker, threads: int = 1) -> None:
        import torch

        import adiff_env  # noqa: F401  (env ids in this worker process)

        torch.set_num_threads(threads)
        self.worker = worker
        self.token: str | None = None
        self.model: Any = None

    def run(self, token: str, model_box: list[Any], shard: Any) -> Generated:
        """``model_box``: ``[ObjectRef]`` (boxed so that Ray does not fetch it on every call)."""
        if token != self.token:
            import ray

            self.model, self.token = ray.get(model_box[0]), token
        return self.worker.run(self.model, shard)

    def close(self) -> None:
        self.worker.close()


class RayGenerationExecutor:
    """Runs each round's shards on ``actors`` Ray actors (module doc).

    Args:
        actors: actors (one CPU each; default: the cluster's CPUs).
        address: a Ray cluster address (``auto``, ``ray://head:10001``); None or ``""``: a
            local cluster of ``actors`` CPUs (an open Ray session is reused).
        retries: extra attempts of a shard that raised.
        num_gpus: GPUs per actor (e.g. 1 with ``--device cuda``).
        progress: a bar over the round's shards on the driver.
    """

    def __init__(self, actors: int | None = None, *, address: str | None = None, retries: int = 2,
                 num_gpus: float = 0.0, progress: bool = False) -> None:
        if actors is not None and actors < 1:
            raise ValueError(f"actors must be >= 1, got {actors}.")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}.")
        self.actors, self.address, self.retries, self.num_gpus, self.progress = actors, address, retries, num_gpus, progress
        self._pool: list[Any] = []
        self._remote: Any = None
        self._worker: Any = None
        self._domain: Any = None
        self._started = False

    def _ensure_pool(self, domain: ShardedDomain) -> None:
        ray = _ray()
        if not ray.is_initialized():
            self._started = connect(self.address or None, self.actors)
        if self._pool and self._domain is domain:
            return
        self._kill_pool()
        n = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._worker, self._domain = domain.generation_worker(False), domain
        self._remote = ray.remote(num_cpus=1, num_gpus=self.num_gpus, max_restarts=2, max_task_retries=2)(GenerationActor)
        self._pool = [self._remote.remote(self._worker) for _ in range(n)]

    def generate(self, domain: ShardedDomain, current: Checkpoint, round_index: int) -> Generated:
        """The round's shards on the actors, merged in shard order (module doc)."""
        check_sharded(domain)
        ray = _ray()
        self._ensure_pool(domain)
        shards = list(domain.generation_shards(current, round_index))
        token = f"{round_index}-{uuid.uuid4().hex[:8]}"
        box = [ray.put(domain.generation_model(current))]
        bar = tqdm(total=len(shards), desc=f"round {round_index}: generate on {len(self._pool)} Ray actors",
                   disable=not self.progress, leave=False)
        try:
            results, failures = run_queue(
                self._pool, len(shards), lambda actor, i: actor.run.remote(token, box, shards[i]),
                retries=self.retries, respawn=lambda: self._remote.remote(self._worker),
                on_result=lambda i, _: bar.update(1))
        finally:
            bar.close()
        if failures:
            raise ShardsFailedError(round_index, failures, len(shards))
        return merge_generated([results[i] for i in range(len(shards))])

    def _kill_pool(self) -> None:
        if self._pool:
            ray = _ray()
            for actor in self._pool:
                try:
                    ray.get(actor.close.remote(), timeout=60)
                except Exception:  # noqa: BLE001 - a dead actor has nothing left to release
                    pass
                ray.kill(actor)
        self._pool = []

    def close(self) -> None:
        """Stop the actors (and the local cluster this executor started)."""
        self._kill_pool()
        if self._started:
            _ray().shutdown()
            self._started = False

    def __enter__(self) -> RayGenerationExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
