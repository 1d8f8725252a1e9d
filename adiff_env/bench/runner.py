"""``adiff bench``: every agent x env x seed through one evaluation path -> results.csv + report.

Cells. A cell is (agent label, env id, seed index ``s``); it runs ``episodes`` episodes with
reset seeds ``s * 10000 + i`` (:data:`SEED_STRIDE`) through
:func:`~adiff_env.bench.vector.evaluate_vector` (the ``adiff evaluate`` protocol on a vector
env). ``results.csv`` holds one row per cell, with the git commit that ran it, and is
rewritten atomically after each cell, so an interrupted run keeps what it finished; a re-run
skips cells already there with the same episode count unless ``force``. The report (``table.md``, ``scores.png``,
``score_vs_time.png``) is rebuilt from the whole CSV at the end.

``ray`` (``adiff bench --ray [ADDRESS]``): the same cells on Ray actors
(:mod:`adiff_env.distributed.ray_bench`), the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adiff_env.bench.cells import SEED_STRIDE, cell_row, read_results, same_cell, write_results  # noqa: F401
from adiff_env.bench.specs import parse_bench_agent
from adiff_env.bench.vector import VECTOR_MODES, evaluate_vector
from adiff_env.errors import UnknownNameError

SUITES: dict[str, tuple[str, ...]] = {
    "maze": ("adiff/PointMaze-UMaze-v0", "adiff/PointMaze-Medium-v0", "adiff/PointMaze-Large-v0"),
    "goldcoin": ("adiff/PointMaze-Medium-GoldCoin-v0", "adiff/PointMaze-Large-GoldCoin-v0"),
}


def suite_envs(suite: str, envs: list[str] | None = None) -> list[str]:
    """The suite's env ids, restricted to ``envs`` (full ids or unique substrings, e.g. ``UMaze``)."""
    if suite not in SUITES:
        raise UnknownNameError("bench suite", suite, SUITES)
    ids = list(SUITES[suite])
    if not envs:
        return ids
    chosen = []
    for name in envs:
        hits = [i for i in ids if i == name] or [i for i in ids if name.lower() in i.lower()]
        if len(hits) != 1:
            raise UnknownNameError(f"{suite} env", name, ids)
        chosen.append(hits[0])
    return list(dict.fromkeys(chosen))


@dataclass(frozen=True)
class BenchConfig:
    """What ``adiff bench`` runs; ``seeds`` is the number of seed indices ``0 .. seeds - 1``."""

    suite: str  # benchmark suite: maze (U-Maze, Medium, Large) or goldcoin
    agents: tuple[str, ...]  # agent specs KIND[:ARG][?KEY=VALUE&...]
    episodes: int = 100  # episodes per agent x env x seed
    seeds: int = 3  # number of seed indices 0..S-1
    out: Path = Path("bench-out")  # output folder
    envs: tuple[str, ...] | None = None  # subset of the suite's envs (ids or names)
    vector: int = 8  # sub-envs per evaluation
    vector_mode: str = "async"  # gymnasium vector env: async or sync
    force: bool = False  # re-run cells already in results.csv
    progress: bool = True  # progress bars
    ray: str | None = None  # None: this process; "": a local Ray cluster; else a Ray cluster address
    ray_actors: int | None = None  # Ray actors (default: the cluster's CPUs)

    def __post_init__(self) -> None:
        for name in ("episodes", "seeds", "vector"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        if not self.agents:
            raise ValueError("give at least one agent, e.g. --agents random,expert.")
        if self.ray_actors is not None and (isinstance(self.ray_actors, bool) or not isinstance(self.ray_actors, int) or self.ray_actors < 1):
            raise ValueError(f"ray_actors must be an integer >= 1 or None (the cluster's CPUs), got {self.ray_actors!r}.")
        if self.vector_mode not in VECTOR_MODES:
            raise UnknownNameError("vector mode", self.vector_mode, VECTOR_MODES)


def run_bench(config: BenchConfig) -> list[dict[str, Any]]:
    """Run every missing cell, rewrite ``results.csv`` after each, then write the report. Returns all rows."""
    agents = [parse_bench_agent(a) for a in config.agents]  # unknown kinds fail before any work
    labels = [a.label for a in agents]
    if len(set(labels)) != len(labels):
        raise ValueError(f"agent specs must be distinct, got {labels}.")
    envs = suite_envs(config.suite, list(config.envs) if config.envs else None)
    out = Path(config.out)
    csv_path = out / "results.csv"
    rows: list[dict[str, Any]] = read_results(csv_path)
    if config.ray is not None:
        from adiff_env.distributed.ray_bench import run_bench_ray

        rows = run_bench_ray(config, agents, envs, rows, csv_path)
    for agent in agents if config.ray is None else ():
        for env_id in envs:
            todo = [s for s in range(config.seeds)
                    if config.force or not any(same_cell(r, agent.label, env_id, s, config.episodes) for r in rows)]
            if not todo:
                continue
            from tqdm.auto import tqdm  # deferred: adiff --help builds this module's configs

            with tqdm(total=len(todo) * config.episodes, desc=f"{agent.label} | {env_id}", disable=not config.progress) as bar:
                for s in todo:
                    result = evaluate_vector(env_id, agent.spec, config.episodes, seed=s * SEED_STRIDE,
                                             n_envs=config.vector, mode=config.vector_mode,
                                             agent_options=agent.options or None, bar=bar)
                    rows = [r for r in rows if not (r["agent"] == agent.label and r["env"] == env_id and int(r["seed"]) == s)]
                    rows.append(cell_row(agent, env_id, s, result))
                    write_results(csv_path, rows)
    from adiff_env.bench.report import write_report

    write_report(rows, out, agent_order=labels, env_order=envs)
    return rows
