"""Sampler speed: ms per plan at batch 1 for DDPM with all training steps and DDIM-20/10/5.

Model: the ~1M-parameter temporal U-Net (dim 32, mults 1-2-4), H=128, D=6, T=64 cosine,
predict x0, start + goal inpainted; untrained weights (speed does not depend on them).

    uv run python benchmarks/bench_sampler.py                 # 1 and 2 torch threads
    uv run python benchmarks/bench_sampler.py --threads 1 --repeats 50 --json out.json

Prints a table (median and p90 ms per plan, plans/s) and the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from adiff_env.diffusion import (
    CosineSchedule,
    Inpainting,
    TemporalUNet,
    UNetConfig,
    count_parameters,
    make_scheduler,
    sample,
)


def bench(model, sched, cond, batch: int, repeats: int, device: str) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    shape = (batch, model.config.horizon, model.config.transition_dim)
    for _ in range(3):  # warm-up
        sample(model, sched, shape, device=device, generator=gen, conditioner=cond)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sample(model, sched, shape, device=device, generator=gen, conditioner=cond)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--horizon", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()

    torch.manual_seed(0)
    config = UNetConfig(transition_dim=6, horizon=args.horizon, dim=32, dim_mults=(1, 2, 4))
    model = TemporalUNet(config).to(args.device).eval()
    schedule = CosineSchedule(num_steps=64)
    cond = Inpainting.from_states(args.horizon, 6, {0: torch.zeros(6), -1: torch.ones(6)}).to(args.device)
    samplers = [("ddpm", 64), ("ddim", 20), ("ddim", 10), ("ddim", 5)]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"device {args.device}, params {count_parameters(model):,}, batch {args.batch}, H {args.horizon}")
    print(f"{'threads':>7} {'sampler':>8} {'steps':>5} {'median ms':>10} {'p90 ms':>8} {'plans/s':>8} {'ms/step':>8}")
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, steps in samplers:
            sched = make_scheduler(name, schedule, prediction="x0", steps=steps)
            times = sorted(bench(model, sched, cond, args.batch, args.repeats, args.device))
            med = statistics.median(times)
            p90 = times[int(0.9 * (len(times) - 1))]
            row = dict(threads=threads, sampler=name, steps=steps, median_ms=round(med, 2),
                       p90_ms=round(p90, 2), plans_per_s=round(1000 / med, 1), ms_per_step=round(med / steps, 3))
            rows.append(row)
            print(f"{threads:>7} {name:>8} {steps:>5} {med:>10.1f} {p90:>8.1f} {1000 / med:>8.1f} {med / steps:>8.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"torch": torch.__version__, "batch": args.batch, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
