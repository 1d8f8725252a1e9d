"""Dynamic batching: concurrent requests with the same key become one call (max batch, max wait).

``await batcher.submit(key, item)`` queues ``item`` under ``key`` (e.g. model, env, sampler,
steps). One collector task per key takes the first waiting item, then keeps collecting for at
most ``max_wait_ms`` or until ``max_batch`` items wait, and runs ``run_batch(key, items)`` on
the executor (one sampler thread: torch calls never overlap). While a batch runs, the next one
fills, so under load batches grow without waiting. Above ``queue_cap`` waiting items over all
keys, :meth:`submit` raises :class:`QueueFull` at once (the route answers 429).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from adiff_env.api.config import RuntimeLimits

IDLE_S = 30.0  # a key's collector ends after this long without requests


class QueueFull(Exception):
    """More items wait than ``plan_queue_cap``; ``retry_after_s`` estimates when one frees."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the plan queue is full; retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


@dataclass
class BatchInfo:
    """What a caller learns about the batch its item ran in."""

    size: int
    queue_ms: float
    run_ms: float


class DynamicBatcher:
    """See the module docstring. ``limits`` is read live (the admin route may change it)."""

    def __init__(self, run_batch: Callable[[Hashable, list[Any]], list[Any]], executor: Executor,
                 limits: RuntimeLimits) -> None:
        self.run_batch, self.executor, self.limits = run_batch, executor, limits
        self._queues: dict[Hashable, asyncio.Queue] = {}
        self._tasks: dict[Hashable, asyncio.Task] = {}
        self.pending = 0
        self.batch_ms_ewma = 50.0  # running estimate of one batch's time, for Retry-After

    def check_capacity(self) -> None:
        """Raise :class:`QueueFull` when ``plan_queue_cap`` items wait already."""
        if self.pending >= self.limits.plan_queue_cap:
            waits = self.pending / max(1, self.limits.max_batch) + 1
            raise QueueFull(waits * self.batch_ms_ewma / 1000)

    async def submit(self, key: Hashable, item: Any) -> tuple[Any, BatchInfo]:
        self.check_capacity()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = asyncio.Queue()
            self._tasks[key] = loop.create_task(self._collect(key, q))
        self.pending += 1
        q.put_nowait((item, fut, time.perf_counter()))
        try:
            return await fut
        finally:
            self.pending -= 1

    async def _collect(self, key: Hashable, q: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                first = await asyncio.wait_for(q.get(), IDLE_S)
            except TimeoutError:
                if q.empty():  # idle: drop this key's collector (no await between check and removal)
                    del self._queues[key], self._tasks[key]
                    return
                continue
            batch = [first]
            deadline = time.perf_counter() + self.limits.max_wait_ms / 1000
            while len(batch) < self.limits.max_batch:
                if not q.empty():
                    batch.append(q.get_nowait())
                    continue
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(q.get(), left))
                except TimeoutError:
                    break
            batch = [b for b in batch if not b[1].cancelled()]
            if not batch:
                continue
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(self.executor, self.run_batch, key, [b[0] for b in batch])
            except Exception as exc:  # the whole batch fails alike (e.g. the model failed to load)
                for _, fut, _ in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            run_ms = 1000 * (time.perf_counter() - start)
            self.batch_ms_ewma = 0.8 * self.batch_ms_ewma + 0.2 * run_ms
            for (_, fut, queued), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result((result, BatchInfo(len(batch), 1000 * (start - queued), run_ms)))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self._queues.clear()
