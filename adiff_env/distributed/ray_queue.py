"""One queue of work items over a pool of Ray actors, with retries: the loop ``adiff bench
--ray`` (cells) and ``adiff ... evolve --ray`` (generation shards) share.

The driver keeps one item in flight per actor. An item whose task raised (``RayTaskError``)
goes back to the front of the queue until it has run ``1 + retries`` times; an actor that died
for good (``RayActorError``, Ray's own restarts used up) is replaced by ``respawn()`` in its
slot before its item is retried. Items that still fail are returned with their last error
instead of being dropped, so the caller can name them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

INSTALL_HINT = "Ray is not installed; install the extra: uv sync --extra ray (or pip install 'adiff-env[ray]')."


def _ray():
    try:
        import ray
    except ImportError as exc:  # the optional extra
        raise ImportError(INSTALL_HINT) from exc
    return ray


def run_queue(
    pool: list[Any],
    count: int,
    submit: Callable[[Any, int], Any],
    *,
    retries: int,
    respawn: Callable[[], Any],
    on_result: Callable[[int, Any], None] | None = None,
) -> tuple[dict[int, Any], dict[int, str]]:
    """Run items ``0 .. count-1`` on ``pool`` (a list of actor handles, replaced in place when
    an actor dies). ``submit(actor, i)`` starts item ``i`` on ``actor`` and returns its object
    ref; ``on_result(i, value)`` is called on the driver as each item finishes.

    Returns ``(results, failures)``: item index -> value, and item index -> a one-line error
    for the items that failed ``1 + retries`` times.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}.")
    if count > 0 and not pool:
        raise ValueError("run_queue needs at least one actor in the pool.")
    ray = _ray()
    queue = list(range(count))
    attempts = [0] * count
    results: dict[int, Any] = {}
    failures: dict[int, str] = {}
    in_flight: dict[Any, tuple[int, int]] = {}  # object ref -> (item index, actor slot)

    def start(slot: int) -> None:
        if queue:
            i = queue.pop(0)
            attempts[i] += 1
            in_flight[submit(pool[slot], i)] = (i, slot)

    for slot in range(min(len(pool), count)):
        start(slot)
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        i, slot = in_flight.pop(done[0])
        try:
            results[i] = ray.get(done[0])
        except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as exc:
            if isinstance(exc, ray.exceptions.RayActorError):  # restarts used up: a fresh actor
                pool[slot] = respawn()
            if attempts[i] <= retries:
                queue.insert(0, i)
            else:
                failures[i] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
        else:
            if on_result is not None:
                on_result(i, results[i])
        start(slot)
    return results, failures
