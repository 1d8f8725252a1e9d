"""The evolution loop on a toy domain written here (no maze, no code): the loop is
domain-agnostic. Also: state.json's format, resume, callbacks, and that evolve/ imports no domain."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from adiff_env.evolve.buffer import BufferConfig, ItemMetric
from adiff_env.evolve.domain import Evaluation, EvolveDomain, Generated, LoopConfig, Registration, RunContext
from adiff_env.evolve.loop import STATE_FORMAT, EvolutionLoop, EvolutionState, EvolveCallback, RoundRecord
from adiff_env.registry import CheckpointMetadata, ModelRegistry

TARGET = 3.0


@dataclass(frozen=True)
class ToyConfig:
    rounds: int = 3
    workdir: str | None = None
    min_improvement: float = 0.0


class ToyDomain:
    """The model is one number ``theta`` (in ``config.json``); generation proposes points around
    it, rewarded by ``-|x - 3|``; fine-tuning moves ``theta`` to the mean of the buffer;
    the score is ``-|theta - 3|``."""

    kind = "toy"
    target = "toy/target-3"
    score_label = "-|theta - 3|"

    def __init__(self, config: ToyConfig) -> None:
        self.config = config
        self.events: list[str] = []
        self.run: RunContext | None = None

    def loop_config(self) -> LoopConfig:
        c = self.config
        return LoopConfig(base="toy", rounds=c.rounds, min_improvement=c.min_improvement, workdir=c.workdir)

    def buffer_config(self) -> BufferConfig:
        return BufferConfig(capacity=4, min_distance=0.05)

    def buffer_metric(self) -> ItemMetric:
        return ItemMetric(features=lambda item: float(np.asarray(item).reshape(-1)[0]), distance=lambda a, b: abs(a - b))

    def load(self, registry: ModelRegistry, spec: str):
        ckpt = registry.load(spec)
        if ckpt.metadata.kind != "toy":
            raise ValueError(f"not a toy model: {ckpt.metadata.kind}")
        return ckpt

    def open(self, run: RunContext) -> None:
        self.events.append("open")
        self.run = run

    def close(self) -> None:
        self.events.append("close")

    def generate(self, current, round_index: int) -> Generated:
        self.events.append(f"generate {round_index}")
        theta = current.config["theta"]
        items = [np.array([theta + d]) for d in np.linspace(-1.0, 1.0, 9)]
        return Generated(items=items, rewards=[-abs(float(x[0]) - TARGET) for x in items], generated=9,
                         extras={"theta": theta})

    def finetune(self, current, buffer, folder: Path, round_index: int):
        theta = float(np.mean([float(x[0]) for x in buffer.items]))
        scratch = ModelRegistry(folder / "candidate", read_only_roots=[])
        meta = CheckpointMetadata(kind="toy", extra={"round": round_index})
        candidate = scratch.save(self.run.name, meta, config={"theta": theta},
                                 extra_files={"notes.txt": f"round {round_index}".encode()})
        return candidate, 0.5 / round_index

    def evaluate(self, checkpoint) -> Evaluation:
        theta = checkpoint.config["theta"]
        return Evaluation(score=-abs(theta - TARGET), summary={"theta": theta})

    def registration(self, candidate) -> Registration:
        return Registration(metadata={"env": self.target}, extra_files={"notes.txt": candidate.path / "notes.txt"})


@pytest.fixture
def registry(tmp_path):
    reg = ModelRegistry(tmp_path / "home", read_only_roots=[])
    reg.save("toy", CheckpointMetadata(kind="toy"), config={"theta": 0.0})
    return reg


def test_the_loop_runs_a_domain_it_knows_nothing_about(registry, tmp_path):
    domain = ToyDomain(ToyConfig(workdir=str(tmp_path / "w")))
    assert isinstance(domain, EvolveDomain)
    lines: list[str] = []
    state = EvolutionLoop(domain, registry=registry, progress=False, log=lines.append).run()
    assert domain.events == ["open", "generate 1", "generate 2", "generate 3", "close"]
    assert isinstance(state, EvolutionState) and all(isinstance(r, RoundRecord) for r in state.rounds)
    # round 1: the four best of -1..1 are 0.25..1, so theta -> 0.625; every round moves closer to 3
    first = state.rounds[0]
    assert first.evaluation == {"theta": pytest.approx(0.625)} and first.score == pytest.approx(-2.375)
    assert first.kept == 9 and first.generated == 9 and first.buffer["size"] == 4 and first.extras == {"theta": 0.0}
    assert first.buffer_added == {"added": 4, "replaced": 5}
    assert [r.registered for r in state.rounds] == ["toy@v2", "toy@v3", "toy@v4"] and state.current == "toy@v4"
    assert [r.loss for r in state.rounds] == pytest.approx([0.5, 0.25, 0.5 / 3])
    scores = [r.score for r in state.rounds]
    assert scores == pytest.approx([-2.375, -1.71875, -1.0703125]) and state.best_score == scores[-1] and state.baseline == -3.0
    v3 = registry.load("toy@v3")
    assert v3.metadata.parent == "toy@v2" and v3.metadata.env == "toy/target-3"
    assert v3.metadata.extra["evolve_round"] == 2 and v3.metadata.extra["evolve_run"] == state.run_id
    assert (v3.path / "notes.txt").read_text() == "round 2" and v3.metadata.scores["score"] == scores[1]
    on_disk = json.loads((tmp_path / "w" / "state.json").read_text())
    assert on_disk["format"] == STATE_FORMAT and on_disk["domain"] == "toy" and on_disk["config"]["rounds"] == 3
    assert on_disk["rounds"][1]["registered"] == "toy@v3" and EvolutionState.from_dict(on_disk) == state
    assert lines[0] == "baseline toy@v1: score -3.00" and "registered toy@v4" in lines[-1]
    assert (tmp_path / "w" / "score_by_round.png").stat().st_size > 0 and list((tmp_path / "w" / "tb").iterdir())


class StopAfter(EvolveCallback):
    def __init__(self, last: int) -> None:
        self.last, self.seen = last, []

    def on_round_start(self, loop, round_index):
        self.seen.append(round_index)

    def on_round_end(self, loop, record):
        return record.round < self.last


def test_a_callback_stops_the_run_and_resume_continues_with_the_buffer(registry, tmp_path):
    cfg = ToyConfig(workdir=str(tmp_path / "w"), rounds=3)
    stop = StopAfter(1)
    state = EvolutionLoop(ToyDomain(cfg), [stop], registry=registry, progress=False, log=lambda s: None).run()
    assert stop.seen == [1] and len(state.rounds) == 1
    with pytest.raises(FileExistsError, match="resume"):
        EvolutionLoop(ToyDomain(cfg), registry=registry, progress=False)
    loop = EvolutionLoop(ToyDomain(cfg), registry=registry, resume=True, progress=False, log=lambda s: None)
    assert sorted(float(x[0]) for x in loop.buffer.items) == [0.25, 0.5, 0.75, 1.0]  # round 1's buffer
    resumed = loop.run()
    assert [r.round for r in resumed.rounds] == [1, 2, 3] and resumed.run_id == state.run_id
    assert [r.registered for r in resumed.rounds] == ["toy@v2", "toy@v3", "toy@v4"]
    with pytest.raises(ValueError, match="'toy' run; it cannot resume as 'other'"):
        other = ToyDomain(cfg)
        other.kind = "other"
        EvolutionLoop(other, registry=registry, resume=True, progress=False)


def test_no_registration_without_improvement_and_close_after_a_failure(registry, tmp_path):
    domain = ToyDomain(ToyConfig(workdir=str(tmp_path / "w"), rounds=1, min_improvement=5.0))
    state = EvolutionLoop(domain, registry=registry, progress=False, log=lambda s: None).run()
    assert not state.rounds[0].improved and state.rounds[0].registered is None and registry.versions("toy") == [1]

    class Broken(ToyDomain):
        def generate(self, current, round_index):
            raise RuntimeError("generation broke")

    broken = Broken(ToyConfig(workdir=str(tmp_path / "b"), rounds=1))
    with pytest.raises(RuntimeError, match="generation broke"):
        EvolutionLoop(broken, registry=registry, progress=False, log=lambda s: None).run()
    assert broken.events == ["open", "close"]
    with pytest.raises(TypeError, match=r"not an EvolveDomain; it lacks \['kind', 'target'"):
        EvolutionLoop(object(), registry=registry)


def test_state_formats_old_records_convert_and_newer_formats_are_refused():
    legacy = {"run_id": "r", "config": {"env_id": "e"}, "base": "a@v1", "current": "a@v2", "baseline": 1.0,
              "best_score": 2.0, "baseline_eval": {}, "rounds": [
                  {"round": 1, "generated": 4, "kept": 2, "infeasible": 2, "unsuccessful": 0, "buffer_added": {"added": 2},
                   "buffer": {"size": 2}, "loss": 0.1, "score": 2.0, "eval": {"success_rate": 1.0}, "improved": True,
                   "registered": "a@v2", "wall_s": 3.0}]}
    state = EvolutionState.from_dict(legacy)
    rec = state.rounds[0]
    assert state.format == STATE_FORMAT and rec.evaluation == {"success_rate": 1.0}
    assert rec.extras == {"infeasible": 2, "unsuccessful": 0} and rec.registered == "a@v2"
    with pytest.raises(ValueError, match="state format 3"):
        EvolutionState.from_dict({**legacy, "format": 3})
    with pytest.raises(ValueError, match=r"unknown round record keys \['eval', 'infeasible'"):
        EvolutionState.from_dict({**legacy, "format": 2, "domain": "maze", "loop": {}})
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        LoopConfig(base="x", rounds=0)
    with pytest.raises(ValueError, match="items and rewards differ"):
        Generated(items=[1], rewards=[])


def test_the_evolution_core_imports_no_domain():
    """evolve/ is the domain-agnostic core: no import of adiff_env.maze / adiff_env.code anywhere
    in it, not even inside functions."""
    root = Path(__file__).resolve().parents[2] / "adiff_env" / "evolve"
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[:2] in (["adiff_env", "maze"], ["adiff_env", "code"])]
    assert len(list(root.glob("*.py"))) >= 6 and offenders == []


def test_the_evolve_commands_and_domain_configs_import_no_torch():
    """``adiff --help`` builds the evolve parsers; they read defaults from the domain modules,
    which must not pull torch in at import time."""
    import subprocess
    import sys

    code = ("import sys, adiff_env.cli.evolve, adiff_env.cli.code, adiff_env.maze.evolve, adiff_env.code.evolve, "
            "adiff_env.evolve.domain; print(sorted(m for m in ('torch', 'minari') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
