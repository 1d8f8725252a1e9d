"""``adiff bench``: every agent x env x seed through one evaluation path -> results.csv + report.

Cells. A cell is (agent label, env name, seed index ``s``); it runs ``episodes`` episodes with
reset seeds ``s * 10000 + i`` (:data:`SEED_STRIDE`) through
:func:`~adiff_env.bench.vector.evaluate_vector` (the ``adiff evaluate`` protocol on a vector
env). ``results.csv`` holds one row per cell, with the git commit that ran it, and is
rewritten atomically after each cell, so an interrupted run keeps what it finished; a re-run
skips cells already there with the same episode count unless ``force``. The report (``table.md``, ``scores.png``,
``score_vs_time.png``) is rebuilt from the whole CSV at the end.

Env names and agent aliases (:mod:`adiff_env.bench.suites`): an env name may carry ``gym.make``
keywords (``adiff/FetchPickAndPlace-v0?goal_region=air``); on the ``fetch`` suite a bare ``bc``,
``iql``, ``sac-her``, ``planner`` or ``chunk`` names that kind's checkpoint for the env's task
(``bc:bc-fetch-push`` on push). Every checkpoint is looked up before the first episode; missing
ones fail the run with the command that makes each, or are left out with ``skip_missing``.

``ray`` (``adiff bench --ray [ADDRESS]``): the same cells on Ray actors
(:mod:`adiff_env.distributed.ray_bench`), the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adiff_env.bench.cells import SEED_STRIDE, cell_row, merge_results, read_results, same_cell, write_results  # noqa: F401
from adiff_env.bench.specs import BenchAgent, parse_bench_agent
from adiff_env.bench.suites import SUITES, get_suite, resolve_agent_text, suite_envs, train_hint  # noqa: F401
from adiff_env.bench.vector import VECTOR_MODES, evaluate_vector
from adiff_env.errors import MissingResourceError, UnknownNameError

MODEL_KINDS = ("bc", "iql", "cql", "sb3", "planner", "chunk", "coder")
"""Agent kinds whose ARG names a checkpoint; the bench checks each exists before the first episode."""

@dataclass(frozen=True)
class BenchConfig:
    """What ``adiff bench`` runs; ``seeds`` is the number of seed indices ``0 .. seeds - 1``."""

    suite: str  # benchmark suite: maze (U-Maze, Medium, Large), goldcoin or fetch
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
    skip_missing: bool = False  # skip (agent, env) pairs whose checkpoint is missing instead of failing
    report_only: bool = False  # rebuild table.md and the plots from results.csv; run nothing
    merge: tuple[Path, ...] = ()  # other runs' results.csv: their cells join OUT/results.csv first (OUT's rows win)

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


def cell_agent(suite: str, label: str, env_name: str) -> BenchAgent:
    """What the agent ``label`` is on ``env_name``: suite aliases and ``{task}`` resolved, the spec
    parsed and checked (:func:`~adiff_env.bench.suites.resolve_agent_text`); the label is kept."""
    parsed = parse_bench_agent(resolve_agent_text(suite, label, env_name))
    return BenchAgent(label, parsed.spec, parsed.options)


def missing_checkpoint(agent: BenchAgent) -> str | None:
    """Why ``agent``'s checkpoint cannot be found (None if it is there or the kind needs none);
    reads metadata only, no weights."""
    from adiff_env.registry import ModelRegistry

    kind, _, arg = agent.spec.partition(":")
    if kind not in MODEL_KINDS:
        return None
    if not arg:
        return f"{kind} needs a model name ({kind}:NAME)"
    if arg.endswith(".zip"):
        return None if Path(arg).expanduser().is_file() else f"no file {arg}"
    try:
        ModelRegistry().resolve(arg)
    except (UnknownNameError, MissingResourceError) as exc:
        return str(exc)
    return None


def plan_cells(config: BenchConfig) -> tuple[list[tuple[BenchAgent, str]], list[str]]:
    """The (resolved agent, env name) pairs to run, and one line per pair left out because its
    checkpoint is missing (only with ``skip_missing``; otherwise that raises
    :class:`~adiff_env.errors.MissingResourceError` listing every missing one and how to make it)."""
    labels = list(config.agents)
    if len(set(labels)) != len(labels):
        raise ValueError(f"agent specs must be distinct, got {labels}.")
    envs = suite_envs(config.suite, list(config.envs) if config.envs else None)
    cells, missing = [], []
    for label in labels:
        for env_name in envs:
            agent = cell_agent(config.suite, label, env_name)
            why = missing_checkpoint(agent)
            if why is None:
                cells.append((agent, env_name))
                continue
            hint = train_hint(config.suite, label, env_name)
            missing.append(f"{label} on {env_name} ({agent.spec}): {why}" + (f"\n    make it: {hint}" if hint else ""))
    if missing and not config.skip_missing:
        raise MissingResourceError(
            f"{len(missing)} agent checkpoint(s) missing (set ADIFF_HOME to the registry that has them, train them, "
            "or pass --skip-missing to bench the rest):\n  " + "\n  ".join(missing))
    return cells, missing


def run_bench(config: BenchConfig) -> list[dict[str, Any]]:
    """Run every missing cell, rewrite ``results.csv`` after each, then write the report. Returns all rows.
    With ``report_only`` only the report is rebuilt from ``results.csv`` (rows of several runs, in
    the order of ``config.agents`` first). ``merge`` first adds the cells of other runs'
    ``results.csv`` files that ``results.csv`` lacks (:func:`~adiff_env.bench.cells.merge_results`)."""
    if config.merge:
        merge_results(Path(config.out) / "results.csv", tuple(Path(p) for p in config.merge))
    if config.report_only:
        from adiff_env.bench.report import write_report

        rows = read_results(Path(config.out) / "results.csv")
        if not rows:
            raise MissingResourceError(f"no {Path(config.out) / 'results.csv'} to report on; run the bench first.")
        write_report(rows, Path(config.out), agent_order=list(config.agents), env_order=list(get_suite(config.suite).envs))
        return rows
    cells, _skipped = plan_cells(config)
    labels = list(config.agents)
    envs = suite_envs(config.suite, list(config.envs) if config.envs else None)
    out = Path(config.out)
    csv_path = out / "results.csv"
    rows: list[dict[str, Any]] = read_results(csv_path)
    if config.ray is not None:
        from adiff_env.distributed.ray_bench import run_bench_ray

        rows = run_bench_ray(config, [a for a, _ in cells], envs, rows, csv_path, cells=cells)
    for agent, env_id in cells if config.ray is None else ():
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

    write_report(rows, out, agent_order=labels, env_order=list(get_suite(config.suite).envs))
    return rows
