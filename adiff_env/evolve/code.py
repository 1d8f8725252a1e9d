"""Self-evolution for code: the maze loop with programs as trajectories and tests as reward.

``CodeEvolver(config).run()`` (CLI: ``adiff code evolve``), per round ``k``:

1. generation: for every generation task (``gen_per_family`` instances of each family of
   ``gen_split``, seeds from ``gen_start`` -- never the evaluation seeds 0..999 nor the
   corpus seeds), the current coder samples ``samples`` programs (SMC sampling as in the
   agent); each distinct program runs the task's tests in the sandbox;
2. buffer: the SAME :class:`~adiff_env.evolve.buffer.TrajectoryBuffer` as the maze loop, with
   items = JSON ``{"task_id", "prompt", "program"}``, reward = share of tests passed,
   ``min_reward`` = 1 (only programs passing every test are kept) and diversity by
   :func:`program_distance` (normalized AST edit distance; programs of different tasks are
   never near), so the buffer keeps several distinct correct programs per task;
3. fine-tune from the current weights on the training corpus + buffer programs (a share
   ``mix_ratio`` of each batch from the buffer);
4. evaluate pass@1 (x100) of the raw samples on fixed evaluation tasks (unseen instances,
   seeds ``0..eval_per_family - 1``) and register a new version only if it beats the best so
   far by more than ``min_improvement``; otherwise the current version stays.

State, resume, the per-round table, TensorBoard scalars and ``score_by_round.png`` are those
of :class:`~adiff_env.evolve.loop.SelfEvolver`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adiff_env.evolve.buffer import BufferConfig
from adiff_env.evolve.loop import EvolveCallback, SelfEvolver
from adiff_env.registry import Checkpoint, ModelRegistry

CODER_KINDS = ("code-planner", "code-ar")


def ast_tokens(program: str) -> list[str]:
    """Node types of the program's AST in walk order, identifiers and constants dropped."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError):
        return ["<unparsed>", *program.split()]
    return [type(node).__name__ for node in ast.walk(tree) if not isinstance(node, (ast.Load, ast.Store))]


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def program_distance(a: str, b: str) -> float:
    """Distance of two buffer items (JSON strings): 1 for different tasks, else the AST edit
    distance divided by the longer token sequence (0 = same structure, 1 = nothing shared)."""
    da, db = json.loads(a), json.loads(b)
    if da["task_id"] != db["task_id"]:
        return 1.0
    ta, tb = ast_tokens(da["program"]), ast_tokens(db["program"])
    return edit_distance(ta, tb) / max(1, len(ta), len(tb))


@dataclass(frozen=True)
class CodeEvolveConfig:
    """Everything a run needs (saved in ``state.json``); see the module doc."""

    base: str
    name: str | None = None
    corpus: str | None = None
    rounds: int = 3
    gen_split: str = "train"
    gen_per_family: int = 20
    gen_start: int = 5000
    samples: int = 16
    buffer_capacity: int = 5000
    min_distance: float = 0.05
    finetune_steps: int = 300
    lr: float = 3e-4
    batch_size: int = 64
    mix_ratio: float = 0.5
    eval_split: str = "train"
    eval_per_family: int = 10
    eval_samples: int = 4
    min_improvement: float = 0.0
    sandbox: str = "docker"
    seed: int = 0
    device: str = "cpu"
    workdir: str | None = None
    env_id: str = "adiff/CodeTests-v0"

    def __post_init__(self) -> None:
        for key in ("rounds", "gen_per_family", "samples", "finetune_steps", "eval_per_family", "eval_samples"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}.")
        if self.gen_start < 1000:
            raise ValueError(f"gen_start must be >= 1000 (seeds 0..999 are evaluation tasks), got {self.gen_start}.")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError(f"mix_ratio must be in [0, 1], got {self.mix_ratio}.")


@dataclass
class CodeEvalResult:
    """pass@1 of raw samples on the evaluation tasks (see :mod:`adiff_env.planners.code_eval`)."""

    summary: dict[str, Any]


class CodeEvolver(SelfEvolver):
    """The code loop of the module doc, on :class:`SelfEvolver`'s bookkeeping."""

    score_label = "pass@1 x100 (raw samples)"

    def __init__(self, config: CodeEvolveConfig, callbacks: Sequence[EvolveCallback] = (), *,
                 registry: ModelRegistry | None = None, resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> None:
        self.config, self.callbacks = config, list(callbacks)
        self.score_fn = lambda result: 100.0 * result.summary["pass@1"]
        self.registry = registry or ModelRegistry()
        self.progress, self.log = progress, log
        self.base = self._load(config.base.removeprefix("coder:"))
        self._open_run(resume, BufferConfig(capacity=config.buffer_capacity, min_reward=1.0,
                                            min_distance=config.min_distance, seed=config.seed), program_distance)
        self._corpus: list[Any] | None = None
        self._sandbox = None

    def _load(self, spec: str) -> Checkpoint:
        from adiff_env.registry import CheckpointError

        ckpt = self.registry.load(spec)
        if ckpt.metadata.kind not in CODER_KINDS:
            raise CheckpointError(f"{ckpt.path} holds a {ckpt.metadata.kind!r} model; code evolution needs one of "
                                  f"{CODER_KINDS}.")
        return ckpt

    @property
    def current(self) -> Checkpoint:
        return self._load(self.state["current"])

    @property
    def sandbox(self) -> Any:
        if self._sandbox is None:
            from adiff_env.sandbox import make_sandbox
            from adiff_env.sandbox.base import Limits

            self._sandbox = make_sandbox(self.config.sandbox, limits=Limits(wall_s=5.0, test_s=1.0))
        return self._sandbox

    def corpus(self) -> list[Any]:
        if self._corpus is None:
            from adiff_env.planners.code_corpus import build_corpus, load_corpus

            self._corpus = load_corpus(self.config.corpus) if self.config.corpus else build_corpus(progress=self.progress)
        return self._corpus

    def _coder(self, checkpoint: Checkpoint) -> tuple[Any, Any]:
        from adiff_env.planners.code import CoderActConfig, load_coder

        coder, ckpt = load_coder(str(checkpoint.path.resolve()), self.config.device, self.registry)
        return coder, CoderActConfig.from_dict({**ckpt.config.get("act", {}), "sandbox": None})

    def run(self) -> dict[str, Any]:
        try:
            return super().run()
        finally:
            if self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None

    def round(self, k: int) -> dict[str, Any]:
        import torch
        from tqdm.auto import tqdm

        from adiff_env.planners.code_corpus import CodeExample
        from adiff_env.planners.code_select import normalized_source
        from adiff_env.tasks.procedural import load_procedural

        cfg, tic = self.config, time.perf_counter()
        folder = self.workdir / "rounds" / f"r{k}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        current = self.current
        coder, act = self._coder(current)
        tasks = load_procedural(cfg.gen_split, count=cfg.gen_per_family, start=cfg.gen_start + (k - 1) * cfg.gen_per_family)
        items, rewards, generated, solved = [], [], 0, 0
        for i, task in enumerate(tqdm(tasks, desc=f"round {k}: generate", disable=not self.progress, leave=False)):
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + k * 10_007 + i)
            programs, _ = coder.generate(task.prompt, cfg.samples, act, gen)
            generated += len(programs)
            seen: dict[str, float] = {}
            for program in programs:
                key = normalized_source(program)
                if key is None or key in seen:
                    continue
                seen[key] = self.sandbox.run(program, list(task.tests), setup=task.setup,
                                             entry_point=task.entry_point).pass_rate  # a trusted verdict
                items.append(json.dumps({"task_id": task.task_id, "prompt": task.prompt, "program": program,
                                         "family": task.meta.get("family")}))
                rewards.append(seen[key])
            solved += any(r == 1.0 for r in seen.values())
        outcome = self.buffer.add_batch(items, rewards)
        self.buffer.save(folder / "buffer")
        kept = sum(r == 1.0 for r in rewards)
        record: dict[str, Any] = {"round": k, "generated": generated, "kept": kept, "distinct": len(items),
                                  "tasks_solved": solved, "tasks": len(tasks), "buffer_added": outcome,
                                  "buffer": self.buffer.stats()}
        if len(self.buffer) == 0:
            record.update(loss=None, score=None, improved=False, registered=None, wall_s=time.perf_counter() - tic,
                          note="buffer empty: nothing to fine-tune on")
            return record
        extra = [CodeExample(task_id=d["task_id"], family=d.get("family") or "", prompt=d["prompt"],
                             program=d["program"], style="evolved")
                 for d in (json.loads(s) for s in self.buffer.items)]
        candidate, loss = self.finetune(current, extra, folder, k)
        return self.conclude(record, candidate, loss, current, k, tic)

    def finetune(self, current: Checkpoint, extra: list[Any], folder: Path, k: int) -> tuple[Checkpoint, float]:
        from adiff_env.planners.code_train import CoderTrainConfig, train_coder

        cfg = self.config
        train = CoderTrainConfig.from_dict({**current.config["train"], "steps": cfg.finetune_steps, "lr": cfg.lr,
                                            "warmup_steps": min(30, cfg.finetune_steps // 10), "eval_every": 0,
                                            "checkpoint_every": 0, "ema_decay": 0.99, "batch_size": cfg.batch_size,
                                            "seed": cfg.seed + k})
        scratch = ModelRegistry(folder / "candidate", read_only_roots=[])
        result = train_coder(self.corpus(), train, name=self.name, registry=scratch, run_dir=folder / "train",
                             progress=self.progress, init_from=current, extra=extra, mix_ratio=cfg.mix_ratio,
                             act=current.config.get("act"))
        return result.checkpoint, result.final_loss

    def evaluate(self, checkpoint: Checkpoint) -> CodeEvalResult:
        from adiff_env.planners.code_eval import eval_tasks, evaluate_pass_at_k

        coder, act = self._coder(checkpoint)
        tasks = eval_tasks(self.config.eval_split, self.config.eval_per_family)
        out = evaluate_pass_at_k(coder, tasks, act, n=self.config.eval_samples, ks=(1,), sandbox=self.sandbox,
                                 seed=self.config.seed, progress=self.progress)
        out.pop("per_task")
        return CodeEvalResult(out)

    def summarize(self, result: Any) -> dict[str, Any]:
        return dict(result.summary)

    def promote(self, candidate: Checkpoint, parent: Checkpoint, result: Any, score: float, k: int) -> Checkpoint:
        meta = dataclasses.replace(
            candidate.metadata, parent=parent.spec, name=None, version=None, created_at=None, files={}, git_commit=None,
            scores={"score": score, **self.summarize(result)},
            extra={**candidate.metadata.extra, "evolve_run": self.state["run_id"], "evolve_round": k,
                   "buffer_size": len(self.buffer)})
        return self.registry.save(self.name, meta, tensors=candidate.tensors, config=candidate.config,
                                  extra_files={"tokenizer.json": candidate.path / "tokenizer.json"})
