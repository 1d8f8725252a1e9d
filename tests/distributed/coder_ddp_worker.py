"""One coder-training rank for tests/distributed (run as a real process by the test, not collected).

``python coder_ddp_worker.py CONFIG.json``: joins the gloo group from RANK / WORLD_SIZE /
MASTER_ADDR / MASTER_PORT (set by the test, which picked the port), trains a tiny masked
diffusion coder and a tiny autoregressive one (``adiff_env.code.train.train_coder``) on a small corpus of real procedural
tasks for CONFIG's steps and per-rank batch, and saves this rank's modules to OUT/rank{R}-{ARCH}.pt."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from adiff_env.code.corpus import CodeExample
from adiff_env.code.tasks.procedural import generate
from adiff_env.code.train import CoderTrainConfig, train_coder
from adiff_env.distributed import ddp
from adiff_env.registry import ModelRegistry

TINY = dict(d_model=32, n_layers=1, n_heads=2, max_prompt_len=96, max_len=48, lr=3e-3, warmup_steps=2,
            eval_every=0, checkpoint_every=0, ema_decay=0.5, min_count=1)


def corpus() -> list[CodeExample]:
    out = []
    for fam in ("take_smallest", "count_greater"):
        for seed in range(1000, 1006):
            task = generate(fam, seed)
            out.append(CodeExample(task.task_id, fam, task.prompt, task.solution, "reference"))
    return out


def main(config_path: str) -> None:
    torch.set_num_threads(1)
    cfg = json.loads(Path(config_path).read_text())
    out = Path(cfg["out"])
    with ddp.process_group("cpu", timeout_s=cfg["timeout_s"]) as (world, _device):
        for arch in cfg["archs"]:  # one group, one run per architecture
            train = CoderTrainConfig(**{**TINY, "arch": arch}, steps=cfg["steps"], batch_size=cfg["batch_size"])
            result = train_coder(corpus(), train, name=f"ddp-{arch}", registry=ModelRegistry(out / "models", []),
                                 run_dir=out / f"run-{arch}", progress=False)
            states = {k: m.state_dict() for k, m in result.modules.items()}
            model_config = None
            if result.checkpoint is not None:  # the initial weights, as train_coder builds them (same seed)
                from adiff_env.code.train import build_model

                model_config = result.checkpoint.config["model"]
                torch.manual_seed(train.seed)
                states["init"] = build_model(arch, model_config).state_dict()
            torch.save({"states": states, "loss": result.final_loss, "world_size": world.world_size,
                        "model_config": model_config, "registered": result.checkpoint is not None},
                       out / f"rank{world.rank}-{arch}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
