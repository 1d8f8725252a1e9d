"""The code domain's generation in shards (:mod:`adiff_env.evolve.generation`): what ``adiff
code evolve --ray`` runs on each Ray actor, and what the local run does.

A round's generation tasks (``gen_per_family`` instances of each family of ``gen_split``) are
cut into ``shards`` contiguous ranges (:class:`CodeShard`). Every task's sampling generator is
seeded from the round and the task's index in the round (as without shards), so the items do
not depend on the shard count or on where a shard runs. A :class:`CodeGenerationWorker` holds
its own sandbox (its own Docker warm pool on an actor; the domain's, when it runs in the
driver) and builds the coder from the round's model (checkpoint + tokenizer, shipped by value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adiff_env.evolve.domain import Generated

if TYPE_CHECKING:  # config: the domain's CodeEvolveConfig (not imported: evolve imports this module)
    from adiff_env.registry import Checkpoint


@dataclass(frozen=True)
class CodeShard:
    """Tasks ``start .. stop - 1`` of round ``round_index``'s generation tasks."""

    round_index: int
    index: int
    start: int
    stop: int


@dataclass(frozen=True)
class CoderModel:
    """What a worker needs of a coder: the checkpoint (tensors, config, metadata) and its
    tokenizer as data (a worker on another node has no access to the checkpoint's folder)."""

    checkpoint: Checkpoint
    tokenizer: dict[str, Any]


def coder_model(checkpoint: Checkpoint) -> CoderModel:
    return CoderModel(checkpoint, json.loads((checkpoint.path / "tokenizer.json").read_text(encoding="utf-8")))


def round_tasks(config: Any, round_index: int) -> list[Any]:
    """The round's generation tasks (fresh instances each round, never evaluation seeds)."""
    from adiff_env.code.tasks.procedural import load_procedural

    c = config
    return load_procedural(c.gen_split, count=c.gen_per_family, start=c.gen_start + (round_index - 1) * c.gen_per_family)


class CodeGenerationWorker:
    """A :class:`~adiff_env.evolve.generation.GenerationWorker` for code: ``run(model, shard)``
    samples ``samples`` programs per task of the shard and runs each distinct one's tests in
    the sandbox. ``sandbox``: one to use and leave open (the domain's); else it makes its own
    on first use and closes it in :meth:`close`."""

    def __init__(self, config: Any, progress: bool = False, sandbox: Any = None) -> None:
        self.config, self.progress = config, progress
        self._sandbox, self._owns = sandbox, sandbox is None

    def __getstate__(self) -> dict[str, Any]:  # travels to actors without a sandbox
        return {"config": self.config, "progress": self.progress, "_sandbox": None, "_owns": True}

    @property
    def sandbox(self) -> Any:
        if self._sandbox is None:
            from adiff_env.sandbox import make_sandbox
            from adiff_env.sandbox.base import Limits

            self._sandbox = make_sandbox(self.config.sandbox, limits=Limits(wall_s=5.0, test_s=1.0))
        return self._sandbox

    def coder(self, model: CoderModel) -> tuple[Any, Any]:
        from adiff_env.code.coder import CoderActConfig, DiffusionCoder
        from adiff_env.code.tokenizer import CodeTokenizer
        from adiff_env.registry import load_weights

        ckpt, device = model.checkpoint, self.config.device
        tokenizer = CodeTokenizer.from_dict(model.tokenizer)
        if ckpt.metadata.kind == "code-ar":
            from adiff_env.baselines.ar_coder import ARCoder

            coder: Any = ARCoder.from_checkpoint(ckpt, tokenizer, device)
        else:
            from adiff_env.diffusion.discrete import MaskedTransformer, MaskedTransformerConfig

            net = MaskedTransformer(MaskedTransformerConfig(**ckpt.config["model"]))
            load_weights(net, ckpt.tensors, source=str(ckpt.path))
            coder = DiffusionCoder(net, tokenizer, device)
        return coder, CoderActConfig.from_dict({**ckpt.config.get("act", {}), "sandbox": None})

    def run(self, model: CoderModel, shard: CodeShard) -> Generated:
        import torch
        from tqdm.auto import tqdm

        from adiff_env.code.select import normalized_source

        cfg, k = self.config, shard.round_index
        coder, act = self.coder(model)
        tasks = round_tasks(cfg, k)[shard.start: shard.stop]
        items, rewards, generated, solved = [], [], 0, 0
        for i, task in enumerate(tqdm(tasks, desc=f"round {k}: generate", disable=not self.progress, leave=False),
                                 start=shard.start):
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
        return Generated(items=items, rewards=rewards, generated=generated, kept=sum(r == 1.0 for r in rewards),
                         extras={"distinct": len(items), "tasks_solved": solved, "tasks": len(tasks)})

    def close(self) -> None:
        if self._owns and self._sandbox is not None:
            self._sandbox.close()
        if self._owns:
            self._sandbox = None
