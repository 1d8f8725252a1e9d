"""The code domain's evolve domain: programs as trajectories, tests as reward.

``EvolutionLoop(CodeEvolveDomain(CodeEvolveConfig(...))).run()`` (CLI: ``adiff code evolve``).
The loop (:mod:`adiff_env.evolve.loop`) owns state, resume, the per-round table, TensorBoard
scalars, ``score_by_round.png`` and registration; this domain supplies, per round ``k``:

1. generation: for every generation task (``gen_per_family`` instances of each family of
   ``gen_split``, seeds from ``gen_start`` -- never the evaluation seeds 0..999 nor the
   corpus seeds), the current coder samples ``samples`` programs (SMC sampling as in the
   agent); each distinct program runs the task's tests in the sandbox;
2. buffer: the SAME :class:`~adiff_env.evolve.buffer.TrajectoryBuffer` as the maze, with
   items = JSON ``{"task_id", "prompt", "program"}``, reward = share of tests passed,
   ``min_reward`` = 1 (only programs passing every test are kept) and diversity by
   :func:`program_distance` (normalized AST edit distance; programs of different tasks are
   never near), so the buffer keeps several distinct correct programs per task. Each item is
   parsed once (:func:`program_features`: task id + AST node types), not on every distance;
3. fine-tune from the current weights on the training corpus + buffer programs (a share
   ``mix_ratio`` of each batch from the buffer);
4. evaluate pass@1 (x100) of the raw samples on fixed evaluation tasks (unseen instances,
   seeds ``0..eval_per_family - 1``); the loop registers a new version (with its
   ``tokenizer.json``) only if it beats the best so far by more than ``min_improvement``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adiff_env.evolve.buffer import BufferConfig, ItemMetric
from adiff_env.evolve.domain import Evaluation, Generated, LoopConfig, Registration, RunContext, RunSlot

if TYPE_CHECKING:
    from adiff_env.evolve.buffer import TrajectoryBuffer
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


def program_features(item: str) -> tuple[str, tuple[str, ...]]:
    """A buffer item (JSON string) parsed once: ``(task_id, AST node types)``."""
    data = json.loads(item)
    return data["task_id"], tuple(ast_tokens(data["program"]))


def feature_distance(a: tuple[str, Sequence[str]], b: tuple[str, Sequence[str]]) -> float:
    """1 for different tasks, else the AST edit distance divided by the longer token sequence
    (0 = same structure, 1 = nothing shared)."""
    (task_a, ta), (task_b, tb) = a, b
    if task_a != task_b:
        return 1.0
    return edit_distance(ta, tb) / max(1, len(ta), len(tb))


PROGRAM_METRIC = ItemMetric(program_features, feature_distance)


def program_distance(a: str, b: str) -> float:
    """Distance of two buffer items (JSON strings): :func:`feature_distance` of their features."""
    return feature_distance(program_features(a), program_features(b))


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
    shards: int = 1  # generation shards per round (--ray runs them on actors; items do not depend on it)

    def __post_init__(self) -> None:
        for key in ("rounds", "gen_per_family", "samples", "finetune_steps", "eval_per_family", "eval_samples", "shards"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}.")
        if self.gen_start < 1000:
            raise ValueError(f"gen_start must be >= 1000 (seeds 0..999 are evaluation tasks), got {self.gen_start}.")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError(f"mix_ratio must be in [0, 1], got {self.mix_ratio}.")


    def loop_config(self) -> LoopConfig:
        """The loop's part of this config."""
        return LoopConfig(base=self.base, name=self.name, rounds=self.rounds, min_improvement=self.min_improvement,
                          workdir=self.workdir)


class CodeEvolveDomain(RunSlot):
    """The code :class:`~adiff_env.evolve.domain.EvolveDomain` (module doc); score = pass@1 x100."""

    kind = "code"
    score_label = "pass@1 x100 (raw samples)"

    def __init__(self, config: CodeEvolveConfig) -> None:
        self.config = config
        self.target = config.env_id
        self._run: RunContext | None = None
        self._corpus: list[Any] | None = None
        self._sandbox: Any = None

    # ------------------------------------------------------------------ set-up
    def loop_config(self) -> LoopConfig:
        return self.config.loop_config()

    def buffer_config(self) -> BufferConfig:
        c = self.config
        return BufferConfig(capacity=c.buffer_capacity, min_reward=1.0, min_distance=c.min_distance, seed=c.seed)

    def buffer_metric(self) -> ItemMetric:
        return PROGRAM_METRIC

    def load(self, registry: ModelRegistry, spec: str) -> Checkpoint:
        from adiff_env.registry import CheckpointError

        ckpt = registry.load(spec.removeprefix("coder:"))
        if ckpt.metadata.kind not in CODER_KINDS:
            raise CheckpointError(f"{ckpt.path} holds a {ckpt.metadata.kind!r} model; code evolution needs one of "
                                  f"{CODER_KINDS}.")
        return ckpt

    def open(self, run: RunContext) -> None:
        """Check before any work that the corpus file exists."""
        if self.config.corpus and not Path(self.config.corpus).is_file():
            raise FileNotFoundError(f"corpus {self.config.corpus} does not exist; build it with "
                                    f"`adiff code corpus --out {self.config.corpus}`.")
        self._run = run

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        self._run = None

    @property
    def sandbox(self) -> Any:
        if self._sandbox is None:
            from adiff_env.sandbox import make_sandbox
            from adiff_env.sandbox.base import Limits

            self._sandbox = make_sandbox(self.config.sandbox, limits=Limits(wall_s=5.0, test_s=1.0))
        return self._sandbox

    def corpus(self) -> list[Any]:
        if self._corpus is None:
            from adiff_env.code.corpus import build_corpus, load_corpus

            self._corpus = load_corpus(self.config.corpus) if self.config.corpus else build_corpus(progress=self.run.progress)
        return self._corpus

    def _coder(self, checkpoint: Checkpoint) -> tuple[Any, Any]:
        from adiff_env.code.coder import CoderActConfig, load_coder

        coder, ckpt = load_coder(str(checkpoint.path.resolve()), self.config.device, self.run.registry)
        return coder, CoderActConfig.from_dict({**ckpt.config.get("act", {}), "sandbox": None})

    # ------------------------------------------------------------------ the round's steps
    def generate(self, current: Checkpoint, round_index: int) -> Generated:
        """Sample programs for this round's generation tasks and run their tests (module doc),
        shard after shard in this process on the domain's sandbox (:mod:`adiff_env.code.shards`)."""
        from adiff_env.code.shards import CodeGenerationWorker, coder_model
        from adiff_env.evolve.generation import merge_generated

        worker = CodeGenerationWorker(self.config, self.run.progress, sandbox=self.sandbox)
        model = coder_model(current)
        return merge_generated([worker.run(model, shard) for shard in self.generation_shards(current, round_index)])

    # ------------------------------------------------------------------ sharded generation (--ray)
    def generation_shards(self, current: Checkpoint, round_index: int) -> list[Any]:
        """The round's tasks in ``shards`` contiguous :class:`~adiff_env.code.shards.CodeShard`."""
        from adiff_env.code.shards import CodeShard, round_tasks
        from adiff_env.evolve.generation import split_range

        n = len(round_tasks(self.config, round_index))
        return [CodeShard(round_index, i, a, b) for i, (a, b) in enumerate(split_range(n, self.config.shards))]

    def generation_model(self, current: Checkpoint) -> Any:
        from adiff_env.code.shards import coder_model

        return coder_model(current)

    def generation_worker(self, progress: bool = False) -> Any:
        from adiff_env.code.shards import CodeGenerationWorker

        return CodeGenerationWorker(self.config, progress)  # its own sandbox, made where it runs

    def finetune(self, current: Checkpoint, buffer: TrajectoryBuffer, folder: Path,
                 round_index: int) -> tuple[Checkpoint, float]:
        """Fine-tune ``current`` on the corpus + the buffer's programs into a scratch registry."""
        from adiff_env.code.corpus import CodeExample
        from adiff_env.code.train import CoderTrainConfig, train_coder
        from adiff_env.registry import ModelRegistry

        cfg, k = self.config, round_index
        extra = [CodeExample(task_id=d["task_id"], family=d.get("family") or "", prompt=d["prompt"],
                             program=d["program"], style="evolved")
                 for d in (json.loads(s) for s in buffer.items)]
        train = CoderTrainConfig.from_dict({**current.config["train"], "steps": cfg.finetune_steps, "lr": cfg.lr,
                                            "warmup_steps": min(30, cfg.finetune_steps // 10), "eval_every": 0,
                                            "checkpoint_every": 0, "ema_decay": 0.99, "batch_size": cfg.batch_size,
                                            "seed": cfg.seed + k})
        scratch = ModelRegistry(folder / "candidate", read_only_roots=[])
        result = train_coder(self.corpus(), train, name=self.run.name, registry=scratch, run_dir=folder / "train",
                             progress=self.run.progress, init_from=current, extra=extra, mix_ratio=cfg.mix_ratio,
                             act=current.config.get("act"), device=cfg.device)
        if result.checkpoint is None:
            raise RuntimeError("fine-tuning ran as a torchrun rank other than 0; self-evolution trains in one process.")
        return result.checkpoint, result.final_loss

    def evaluate(self, checkpoint: Checkpoint) -> Evaluation:
        """pass@1 of raw samples on the evaluation tasks (:mod:`adiff_env.code.evaluate`), x100."""
        from adiff_env.code.evaluate import eval_tasks, evaluate_pass_at_k

        coder, act = self._coder(checkpoint)
        tasks = eval_tasks(self.config.eval_split, self.config.eval_per_family)
        out = evaluate_pass_at_k(coder, tasks, act, n=self.config.eval_samples, ks=(1,), sandbox=self.sandbox,
                                 seed=self.config.seed, progress=self.run.progress)
        out.pop("per_task")
        return Evaluation(score=100.0 * out["pass@1"], summary=out)

    def registration(self, candidate: Checkpoint) -> Registration:
        return Registration(extra_files={"tokenizer.json": candidate.path / "tokenizer.json"})
