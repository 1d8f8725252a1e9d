"""GPU check: train a few hundred steps and plan a few hundred times, on the CPU and (when CUDA is
there) on the GPU, and print steps/s, samples/s and ms/plan side by side.

The model is the shipped U-Maze preset's (temporal U-Net dim 32, mults 1-2-4, ~1M parameters,
H = 128, batch 32); the data a small real U-Maze dataset collected here first (expert with
noise, ``--collect`` steps, into a temporary MINARI_DATASETS_PATH unless ``--dataset`` names one
already there). Variants on each device: plain fp32, ``--amp bf16`` (autocast) and
``torch.compile`` (``--variants`` picks; compile needs a C compiler, bf16 on CPU is often slower).
Planning: the trained EMA model through :class:`TrajectoryPlanner` at batch 1 (DDIM-10, as the
preset acts) and batch ``--plan-batch`` (one sampler call for many envs).

    uv run python benchmarks/gpu_check.py                          # cpu, and cuda if available
    uv run python benchmarks/gpu_check.py --steps 300 --plans 300 --json gpu.json

The code domain's masked-diffusion coder (the shipped coder-default preset's size, batch 64) is
trained ``--coder-steps`` steps on each device too, on a small procedural corpus verified here
(process sandbox), and its steps/s printed (``--coder-steps 0`` skips it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _train(preset, device: str, variant: str, registry) -> dict:
    from adiff_env.planners.train import train_planner

    train = {"amp": "bf16" if variant == "bf16" else "none", "compile": variant == "compile"}
    p = preset.replace(train=train)
    p = dataclasses.replace(p, name=f"gpu-check-{device.replace(':', '')}-{variant}")
    result = train_planner(p, device=device, progress=False, registry=registry)
    steps, wall = result.steps, result.wall_s
    return {"train_steps_per_s": steps / wall, "train_samples_per_s": steps * p.train.batch_size / wall,
            "final_loss": result.final_loss, "checkpoint": result.checkpoint}


def _train_coder(corpus, device: str, steps: int, registry) -> dict:
    from adiff_env.code.config import load_coder_preset
    from adiff_env.code.train import train_coder

    preset = load_coder_preset("coder-default")
    cfg = dataclasses.replace(preset.train, steps=steps, eval_every=0, eval_tasks=0, checkpoint_every=0, warmup_steps=10)
    result = train_coder(corpus, cfg, name=f"gpu-check-coder-{device.replace(':', '')}", registry=registry,
                         run_dir=Path(registry.home) / f"coder-run-{device.replace(':', '')}", progress=False, device=device)
    return {"coder_steps_per_s": result.steps / result.wall_s,
            "coder_samples_per_s": result.steps * cfg.batch_size / result.wall_s, "coder_final_loss": result.final_loss}


def _plan(checkpoint, device: str, plans: int, batch: int) -> dict:
    import gymnasium as gym

    import adiff_env  # noqa: F401  (registers the adiff/ ids)
    from adiff_env.planners.trajectory import TrajectoryPlanner

    env = gym.make("adiff/PointMaze-UMaze-v0")
    try:
        planner = TrajectoryPlanner.from_checkpoint(checkpoint, env, device=device)
        obs, _ = env.reset(seed=0)
        s, goal = obs["observation"].astype(np.float64), obs["desired_goal"].astype(np.float64)
        for _ in range(5):
            planner.plan(s, goal, 60)
        times = []
        for _ in range(plans):
            tic = time.perf_counter()
            planner.plan(s, goal, 60)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - tic)
        ss, gs = np.repeat(s[None], batch, 0), np.repeat(goal[None], batch, 0)
        planner.plan_batch(ss, gs, [60] * batch)
        n_batches = max(3, plans // 20)
        tic = time.perf_counter()
        for _ in range(n_batches):
            planner.plan_batch(ss, gs, [60] * batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        batch_wall = time.perf_counter() - tic
        return {"ms_per_plan_b1_median": 1000 * statistics.median(times),
                f"plans_per_s_b{batch}": batch * n_batches / batch_wall}
    finally:
        env.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="training steps per variant (default 300)")
    p.add_argument("--plans", type=int, default=300, help="batch-1 plans per variant (default 300)")
    p.add_argument("--plan-batch", type=int, default=64, help="envs per batched plan (default 64)")
    p.add_argument("--variants", default="fp32,bf16,compile", help="comma list of fp32, bf16, compile")
    p.add_argument("--devices", default=None, help="comma list (default: cpu, plus cuda when available)")
    p.add_argument("--cpu-variants", default="fp32", help="variants on the CPU (default fp32 only: bf16/compile are GPU options)")
    p.add_argument("--dataset", default=None, help="an existing Minari dataset id (default: collect one)")
    p.add_argument("--collect", type=int, default=5000, help="steps to collect when --dataset is not given")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--coder-steps", type=int, default=100, help="coder training steps per device (default 100; 0 skips)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from adiff_env.planners.preset import load_preset
    from adiff_env.registry import ModelRegistry

    tmp = tempfile.TemporaryDirectory(prefix="adiff-gpu-check-")
    os.environ.setdefault("ADIFF_HOME", str(Path(tmp.name) / "home"))
    dataset = args.dataset
    if dataset is None:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(tmp.name) / "minari")
        from adiff_env.datasets.collect import collect_dataset

        dataset = "gpu-check/umaze-v0"
        collect_dataset("adiff/PointMaze-UMaze-v0", args.collect, seed=0, dataset_id=dataset, episode_steps=1000, progress=False)
    preset = load_preset("pointmaze-umaze")
    preset = dataclasses.replace(preset.replace(train={"steps": args.steps, "eval_every": 0, "checkpoint_every": 10**9,
                                                       "warmup_steps": 20}), dataset=dataset)
    registry = ModelRegistry(Path(tmp.name) / "models")
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        variants = (args.cpu_variants if device == "cpu" else args.variants).split(",")
        for variant in variants:
            out = _train(preset, device, variant, registry)
            out.update(_plan(out.pop("checkpoint"), device, args.plans, args.plan_batch))
            rows.append({"device": device, "variant": variant, **out})
            print(json.dumps(rows[-1]), flush=True)
    coder_rows = []
    if args.coder_steps > 0:
        from adiff_env.code.corpus import build_corpus

        corpus = build_corpus(seeds=range(1000, 1020), progress=False)
        for device in devices:
            coder_rows.append({"device": device, **_train_coder(corpus, device, args.coder_steps, registry)})
            print(json.dumps(coder_rows[-1]), flush=True)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} thread(s); GPU: {name}")
    print(f"| device | variant | train steps/s | samples/s (batch {preset.train.batch_size}) | ms/plan (batch 1) | "
          f"plans/s (batch {args.plan_batch}) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['variant']} | {r['train_steps_per_s']:.1f} | {r['train_samples_per_s']:.0f} | "
              f"{r['ms_per_plan_b1_median']:.1f} | {r[f'plans_per_s_b{args.plan_batch}']:.0f} |")
    if coder_rows:
        print("\n| device | coder train steps/s | coder samples/s (batch 64) |\n|---|---|---|")
        for r in coder_rows:
            print(f"| {r['device']} | {r['coder_steps_per_s']:.2f} | {r['coder_samples_per_s']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "coder_rows": coder_rows, "gpu": name,
                                               "threads": args.threads}, indent=2))
    tmp.cleanup()


if __name__ == "__main__":
    main()
