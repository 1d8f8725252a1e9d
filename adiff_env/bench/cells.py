"""The cells of ``adiff bench`` and their rows: one place for the reset seeds of a cell, a
result row, and the atomic ``results.csv`` (used by the local runner and the Ray actors)."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

from adiff_env._provenance import git_commit
from adiff_env.bench.specs import BenchAgent

SEED_STRIDE = 10_000
"""Cell ``s`` runs episodes with reset seeds ``s * SEED_STRIDE + i``."""
CSV_FIELDS = (
    "agent", "env", "seed", "episodes", "reset_seed_start", "normalized_score_x100_mean", "normalized_score_x100_std",
    "success_rate", "return_mean", "return_std", "episode_length_mean", "wall_s", "steps_per_s", "episodes_per_s",
    "plan_ms_median", "plans", "sampler", "sampler_steps", "n_envs", "batched", "coins_mean", "ever_success_rate",
    "zone_steps_mean", "zone_episodes", "agent_spec", "git_commit",
)
"""``success_rate`` is the env's own rule (Fetch: at the last step); ``ever_success_rate`` (Fetch)
succeeded at any step; ``zone_steps_mean`` / ``zone_episodes`` (forbidden-zone envs) the share of
steps with the object in the zone and of episodes that entered it; ``agent_spec`` the checkpoint
spec the label resolved to on this env (suite aliases, ``{task}``)."""


def read_results(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` to ``path`` atomically (temporary file, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge_results(path: Path, sources: list[Path] | tuple[Path, ...]) -> list[dict[str, Any]]:
    """Add to ``path``'s rows those of the ``sources`` (other runs' ``results.csv``) whose cell
    (agent label, env, seed index) ``path`` does not have yet; a cell in ``path``, or in an earlier
    source, keeps its row. Rewrites ``path`` atomically and returns all rows. Every row keeps the
    ``git_commit`` it was measured at. A missing source raises ``FileNotFoundError`` naming it."""
    rows = read_results(path)
    have = {(r["agent"], r["env"], int(r["seed"])) for r in rows}
    for source in sources:
        if not Path(source).is_file():
            raise FileNotFoundError(f"no results file {source} to merge (give the results.csv of an 'adiff bench' run).")
        for row in read_results(Path(source)):
            key = (row["agent"], row["env"], int(row["seed"]))
            if key not in have:
                have.add(key)
                rows.append(row)
    write_results(path, rows)
    return rows


def cell_row(agent: BenchAgent, env_id: str, seed_index: int, result: Any) -> dict[str, Any]:
    extra = result.extra
    return {
        "agent": agent.label, "env": env_id, "seed": seed_index, "episodes": result.episodes,
        "reset_seed_start": result.seed, "normalized_score_x100_mean": result.normalized_score_x100_mean,
        "normalized_score_x100_std": result.normalized_score_x100_std, "success_rate": result.success_rate,
        "return_mean": result.return_mean, "return_std": result.return_std,
        "episode_length_mean": result.episode_length_mean, "wall_s": result.wall_s, "steps_per_s": result.steps_per_s,
        "episodes_per_s": result.episodes / result.wall_s if result.wall_s > 0 else None,
        "plan_ms_median": extra.get("plan_ms_median"), "plans": extra.get("plans"), "sampler": extra.get("sampler"),
        "sampler_steps": extra.get("steps"), "n_envs": extra.get("n_envs"), "batched": extra.get("batched"),
        "coins_mean": extra.get("coins_mean"), "ever_success_rate": extra.get("ever_success_rate"),
        "zone_steps_mean": extra.get("zone_steps_mean"), "zone_episodes": extra.get("zone_episodes"),
        "agent_spec": agent.spec, "git_commit": git_commit(),
    }


def same_cell(row: dict[str, Any], label: str, env_id: str, seed: int, episodes: int) -> bool:
    return row["agent"] == label and row["env"] == env_id and int(row["seed"]) == seed and int(row["episodes"]) == episodes
