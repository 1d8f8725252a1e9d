"""The one table that maps a job to its ``adiff`` command line (change CLI names here only).

A job runs ``python -m adiff_env.cli.main --threads 1 <command>`` in its own folder
``$home/jobs/<id>/``; the run's own files (``state.json`` of evolve, ``resume.pt`` of train) go
to ``<folder>/run`` so that a resumed attempt continues where the last finished round or
checkpoint left off.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

RESUMABLE = ("evolve", "train")


def can_resume(kind: str, run_dir: Path) -> bool:
    """True when ``run_dir`` holds the state a ``--resume`` continues from."""
    if kind == "evolve":
        return (run_dir / "state.json").is_file()
    if kind == "train":
        return (run_dir / "resume.pt").is_file()
    return False


def job_argv(kind: str, params: dict[str, Any], run_dir: Path, *, resume: bool, preset_path: str | None = None
             ) -> list[str]:
    """The child's argv for a job of ``kind`` with validated ``params`` (see ``schemas``)."""
    p = {k: v for k, v in params.items() if v is not None}
    argv = [sys.executable, "-m", "adiff_env.cli.main", "--threads", "1"]

    def opt(flag: str, key: str) -> None:
        if key in p:
            argv.extend([flag, str(p[key])])

    if kind == "evaluate":
        argv += ["evaluate", p["env_id"], "--agent", p["agent"], "--json"]
        opt("--episodes", "episodes")
        opt("--seed", "seed")
    elif kind == "evolve":
        argv += ["maze", "evolve", p["env_id"], "--from", f"planner:{p['base']}", "--workdir", str(run_dir), "--quiet", "--json"]
        for flag, key in (("--name", "name"), ("--rounds", "rounds"), ("--samples", "samples"),
                          ("--candidates", "candidates"), ("--finetune-steps", "finetune_steps"),
                          ("--eval-episodes", "eval_episodes"), ("--seed", "seed")):
            opt(flag, key)
        if resume:
            argv.append("--resume")
    elif kind == "train":
        argv += ["maze", "train", p["env_id"], "--preset", preset_path or p["preset"], "--run-dir", str(run_dir)]
        for flag, key in (("--dataset", "dataset"), ("--name", "name"), ("--steps", "steps"),
                          ("--batch-size", "batch_size"), ("--eval-every", "eval_every"),
                          ("--eval-episodes", "eval_episodes"), ("--seed", "seed")):
            opt(flag, key)
        if resume:
            argv.append("--resume")
    else:
        raise ValueError(f"unknown job kind {kind!r}; known: evaluate, evolve, train.")
    return argv


# Files a client may fetch, per kind: artifact name -> path inside the job folder.
ARTIFACTS: dict[str, dict[str, str]] = {
    "evaluate": {"result.json": "result.json"},
    "evolve": {"result.json": "result.json", "state.json": "run/state.json", "score_by_round.png": "run/score_by_round.png"},
    "train": {"result.json": "result.json", "run.json": "run/run.json"},
}
LOGS = {"stdout.log": "stdout.log", "stderr.log": "stderr.log"}


def artifact_paths(kind: str) -> dict[str, str]:
    return {**ARTIFACTS.get(kind, {}), **LOGS}
