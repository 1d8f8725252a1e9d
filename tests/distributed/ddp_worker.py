"""One training rank for tests/distributed (run as a real process by the test, not collected).

``python ddp_worker.py CONFIG.json``: joins the gloo group from RANK / WORLD_SIZE /
MASTER_ADDR / MASTER_PORT (set by the test, which picked the port), trains the tiny preset of
CONFIG for its steps and per-rank batch, and saves this rank's modules to OUT/rank{R}.pt."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from adiff_env.distributed import ddp
from adiff_env.planners.preset import PlannerPreset
from adiff_env.planners.train import train_planner
from adiff_env.registry import ModelRegistry


def tiny_preset(dataset: str, steps: int, batch_size: int) -> PlannerPreset:
    return PlannerPreset.from_dict({
        "name": "tiny-ddp", "env": "adiff/PointMaze-UMaze-v0", "dataset": dataset,
        "data": {"horizon": 16, "goal_mode": "hindsight", "min_goal_index": 4},
        "model": {"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]},
        "diffusion": {"n_timesteps": 8},
        "train": {"steps": steps, "batch_size": batch_size, "eval_every": 0, "checkpoint_every": 1000,
                  "inverse_dynamics_hidden": 16, "warmup_steps": 2},
    })


def main(config_path: str) -> None:
    torch.set_num_threads(1)
    cfg = json.loads(Path(config_path).read_text())
    out = Path(cfg["out"])
    with ddp.process_group("cpu", timeout_s=cfg["timeout_s"]) as (world, device):
        result = train_planner(tiny_preset(cfg["dataset"], cfg["steps"], cfg["batch_size"]), run_dir=out / "run",
                               device=device, progress=False, registry=ModelRegistry(out / "models"))
        states = {k: m.state_dict() for k, m in result.modules.items() if m is not None}
        torch.save({"states": states, "loss": result.final_loss, "world_size": world.world_size,
                    "registered": result.checkpoint is not None}, out / f"rank{world.rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
