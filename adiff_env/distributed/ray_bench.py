"""``adiff bench ... --ray [ADDRESS]``: agent x env x seed cells on Ray actors.

Each cell is a :class:`CellTask`; a :class:`BenchWorker` actor (``num_cpus=1``) runs it with
the local bench's own function, :func:`~adiff_env.bench.vector.evaluate_vector`: the actor
builds its own vector env and agent (a batched agent such as the planner plans for all its
sub-envs in one call) and returns the same CSV row ``adiff bench`` writes locally, from the
same reset seeds ``s * 10000 + i``, so every column but the timings is the same number.

The driver keeps the queue (one cell in flight per actor), writes ``results.csv`` atomically
after each finished cell (in the local bench's row order) and never drops a cell silently: a
dead actor process is restarted by Ray and its cell retried (``max_restarts`` /
``max_task_retries``); a cell that raises is retried ``retries`` times on a fresh actor; a
cell that still fails is reported by :class:`CellsFailedError` (with the rows that finished,
which are written) instead of leaving a hole in the table.

``ray`` is an optional extra (``pip install 'adiff-env[ray]'``), imported only here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from adiff_env.distributed.ray_queue import _ray, run_queue


@dataclass(frozen=True)
class CellTask:
    """One bench cell: ``episodes`` episodes of ``spec`` (with factory ``options``) on ``env_id``
    with reset seeds ``seed_index * 10000 + i``, over ``n_envs`` sub-envs of a ``mode`` vector env."""

    label: str
    spec: str
    env_id: str
    seed_index: int
    episodes: int
    n_envs: int = 8
    mode: str = "sync"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.label, self.env_id, self.seed_index)


class CellsFailedError(RuntimeError):
    """Cells that failed after their retries; ``rows`` holds the cells that finished."""

    def __init__(self, failures: dict[tuple[str, str, int], str], rows: list[dict[str, Any]]) -> None:
        self.failures, self.rows = failures, rows
        listing = "; ".join(f"{label} | {env} | seed {seed}: {err}" for (label, env, seed), err in failures.items())
        super().__init__(f"{len(failures)} bench cell(s) failed after retries (finished cells were kept): {listing}")


def evaluate_cell(task: CellTask) -> dict[str, Any]:
    """The CSV row of one cell, computed exactly as the local bench computes it."""
    from adiff_env.bench.cells import SEED_STRIDE, cell_row
    from adiff_env.bench.specs import BenchAgent
    from adiff_env.bench.vector import evaluate_vector

    result = evaluate_vector(task.env_id, task.spec, task.episodes, seed=task.seed_index * SEED_STRIDE,
                             n_envs=task.n_envs, mode=task.mode, agent_options=task.options or None)
    return cell_row(BenchAgent(task.label, task.spec, dict(task.options)), task.env_id, task.seed_index, result)


class BenchWorker:
    """The actor body: one torch thread, the env ids registered, then ``run(task)`` per cell."""

    def __init__(self, cell_fn: Callable[[CellTask], dict[str, Any]] = evaluate_cell, threads: int = 1) -> None:
        import torch

        import adiff_env  # noqa: F401  (env ids in this worker process)

        torch.set_num_threads(threads)
        self.cell_fn = cell_fn

    def run(self, task: CellTask) -> dict[str, Any]:
        return self.cell_fn(task)

    def pid(self) -> int:
        return os.getpid()


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to the Ray cluster at ``address`` or start a local one (``address`` None or
    ``""``: ``num_cpus`` CPUs, default all); a session already open is reused. True if this
    call started the session (the caller then shuts it down)."""
    if not address and "ray" not in sys.modules:
        # A local cluster runs workers on this machine's own venv: Ray's uv hook would start each
        # worker through `uv run` (a second environment sync per worker), which fails under load.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray = _ray()
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


def run_cells(
    tasks: Sequence[CellTask],
    *,
    actors: int | None = None,
    cell_fn: Callable[[CellTask], dict[str, Any]] = evaluate_cell,
    retries: int = 2,
    on_row: Callable[[CellTask, dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run ``tasks`` on ``actors`` Ray actors (default: the cluster's CPUs, at most one per task)
    in an open Ray session; returns their rows in task order. ``on_row`` is called on the driver
    as each cell finishes. Raises :class:`CellsFailedError` if a cell fails ``1 + retries`` times."""
    ray = _ray()
    if not ray.is_initialized():
        raise RuntimeError("no Ray session: call adiff_env.distributed.ray_bench.connect() first.")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}.")
    tasks = list(tasks)
    if not tasks:
        return []
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if actors < 1:
        raise ValueError(f"actors must be >= 1, got {actors}.")
    remote = ray.remote(num_cpus=1, max_restarts=2, max_task_retries=2)(BenchWorker)
    pool = [remote.remote(cell_fn) for _ in range(min(actors, len(tasks)))]

    def finished(i: int, row: dict[str, Any]) -> None:
        bar.update(tasks[i].episodes)
        if on_row is not None:
            on_row(tasks[i], row)

    bar = tqdm(total=sum(t.episodes for t in tasks), desc=f"bench on {len(pool)} Ray actors", disable=not progress)
    try:
        rows, failures = run_queue(pool, len(tasks), lambda actor, i: actor.run.remote(tasks[i]), retries=retries,
                                   respawn=lambda: remote.remote(cell_fn), on_result=finished)
    finally:
        bar.close()
        for actor in pool:
            ray.kill(actor)
    ordered = [rows[i] for i in sorted(rows)]
    if failures:
        raise CellsFailedError({tasks[i].key: err for i, err in failures.items()}, ordered)
    return ordered


def run_bench_ray(config: Any, agents: Sequence[Any], envs: Sequence[str], rows: list[dict[str, Any]], csv_path: Any,
                  cells: Sequence[tuple[Any, str]] | None = None) -> list[dict[str, Any]]:
    """The Ray path of :func:`adiff_env.bench.runner.run_bench`: the same missing cells, the same
    rows and ``results.csv`` (rewritten after each finished cell). ``config.ray`` is the cluster
    address ("" for a local cluster of ``config.ray_actors`` CPUs). ``cells``: the (agent, env
    name) pairs to run, agents resolved per env (default: every agent on every env)."""
    from adiff_env.bench.cells import same_cell, write_results

    pairs = list(cells) if cells is not None else [(agent, env_id) for agent in agents for env_id in envs]
    tasks = [
        CellTask(agent.label, agent.spec, env_id, s, config.episodes, config.vector, config.vector_mode, dict(agent.options))
        for agent, env_id in pairs for s in range(config.seeds)
        if config.force or not any(same_cell(r, agent.label, env_id, s, config.episodes) for r in rows)
    ]
    if not tasks:
        return rows
    order = {t.key: n for n, t in enumerate(tasks)}
    base = list(rows)
    finished: dict[tuple[str, str, int], dict[str, Any]] = {}

    def current() -> list[dict[str, Any]]:
        kept = [r for r in base if (r["agent"], r["env"], int(r["seed"])) not in finished]
        return kept + [finished[k] for k in sorted(finished, key=order.__getitem__)]

    def on_row(task: CellTask, row: dict[str, Any]) -> None:
        finished[task.key] = row
        write_results(csv_path, current())

    started = connect(config.ray or None, config.ray_actors)
    try:
        run_cells(tasks, actors=config.ray_actors, on_row=on_row, progress=config.progress)
    finally:
        if started:
            _ray().shutdown()
    return current()
