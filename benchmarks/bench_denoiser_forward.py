"""One denoiser forward, eager vs traced (``act.compile="trace"``) vs ``torch.compile``, on one thread.

Each MODEL is a registry planner (its denoiser, e.g. ``pointmaze-umaze-distilled``) or a
random-weight temporal U-Net ``unet:DIM:MULTS:H`` (e.g. ``unet:8:1-2-4:128``: what a smaller
student would cost). The variants run interleaved, one call each per round, on the same input
(batch ``--batch``, the maze's 6 features, a 7-wide global condition); the minimum, the 10th
percentile and the median are reported in ms, with the largest absolute difference from eager.
``--compile`` adds ``torch.compile(model, dynamic=False)`` with inductor's ``freezing`` on (its
compile time is printed).

    uv run python benchmarks/bench_denoiser_forward.py pointmaze-umaze-distilled --compile
    uv run python benchmarks/bench_denoiser_forward.py unet:32:1-2-4:128 unet:16:1-2-4:128 unet:8:1-2-4:128 unet:16:1-2:128 unet:8:1-2:128
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch

from adiff_env.diffusion import TemporalUNet, UNetConfig, count_parameters, load_model
from adiff_env.diffusion.inference import accelerate
from adiff_env.registry import ModelRegistry, git_commit


def _model(spec: str) -> tuple[torch.nn.Module, int]:
    if spec.startswith("unet:"):
        _, dim, mults, horizon = spec.split(":")
        torch.manual_seed(0)
        config = UNetConfig(transition_dim=6, horizon=int(horizon), dim=int(dim),
                            dim_mults=tuple(int(m) for m in mults.split("-")), cond_dim=7)
        return TemporalUNet(config).eval(), int(horizon)
    ck = ModelRegistry().load(spec)
    return load_model(ck.config["model"], ck.tensors, "model.", str(ck.path)).eval(), ck.config["dims"]["horizon"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="PLANNER or unet:DIM:MULTS:H")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile on a small CPU)")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(json.dumps({"load_average": os.getloadavg(), "git_commit": git_commit(), "argv": sys.argv[1:]}))
    for spec in args.models:
        model, horizon = _model(spec)
        b = args.batch
        x, t, c = torch.randn(b, horizon, 6), torch.full((b,), 63), torch.randn(b, 7)
        variants: dict[str, Any] = {"eager": model, "trace": accelerate(model, "trace")}
        note = ""
        if args.compile:
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            compiled = torch.compile(model, dynamic=False)
            tic = time.perf_counter()
            with torch.no_grad():
                compiled(x, t, c)
            note = f", torch.compile took {time.perf_counter() - tic:.0f} s"
            variants["torch.compile"] = compiled
        times: dict[str, list[float]] = {k: [] for k in variants}
        with torch.inference_mode():
            ref = model(x, t, c)
            diffs = {k: float((f(x, t, c) - ref).abs().max()) for k, f in variants.items()}
            for r in range(args.rounds + 5):
                for k, f in variants.items():
                    tic = time.perf_counter()
                    f(x, t, c)
                    if r >= 5:
                        times[k].append(1000 * (time.perf_counter() - tic))
        print(f"{spec} ({count_parameters(model)} parameters, batch {b}{note})")
        for k, ts in times.items():
            print(f"  {k:<14} min {min(ts):7.3f} ms  p10 {np.percentile(ts, 10):7.3f}  median {np.median(ts):7.3f}  "
                  f"max |diff| vs eager {diffs[k]:.1e}")


if __name__ == "__main__":
    main()
