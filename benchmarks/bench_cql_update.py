"""CQL gradient steps/s at Fetch push shapes (input 28 = 25 obs + 3 goal, 4 actions, batch 256,
256 x 2 MLPs, 10 sampled actions), torch on one thread: the fused update of
``adiff_env/baselines/cql.py`` against the per-block form it replaced (kept in
``tests/baselines/test_cql_fast.py``), interleaved in one process so machine load hits both alike.

    uv run python benchmarks/bench_cql_update.py --rounds 5 --steps 10

Prints steps/s per round by CPU time (``time.process_time``, the process's own core time) and
by wall time, and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "baselines"))
from test_cql_fast import reference_update  # noqa: E402

from adiff_env.baselines.cql import CQLConfig, CQLLearner  # noqa: E402


def batch(inp: int, action_dim: int, size: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"x": torch.randn(size, inp, generator=g), "action": torch.rand(size, action_dim, generator=g) * 2 - 1,
            "reward": (torch.rand(size, generator=g) < 0.3).float(), "next_x": torch.randn(size, inp, generator=g),
            "done": torch.zeros(size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="updates per round and variant")
    ap.add_argument("--inp", type=int, default=28)
    ap.add_argument("--action-dim", type=int, default=4)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = CQLConfig(batch_size=args.batch)
    learners = {name: CQLLearner(args.inp, args.action_dim, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
                for name in ("fused", "reference")}
    step = {"fused": lambda b: learners["fused"].update(b), "reference": lambda b: reference_update(learners["reference"], b)}
    b = batch(args.inp, args.action_dim, args.batch)
    for fn in step.values():
        fn(b)  # warm-up
    cpu: dict[str, list[float]] = {k: [] for k in step}
    wall: dict[str, list[float]] = {k: [] for k in step}
    for r in range(args.rounds):
        for name, fn in step.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                fn(b)
            cpu[name].append(args.steps / (time.process_time() - c0))
            wall[name].append(args.steps / (time.perf_counter() - w0))
            print(f"round {r}: {name:9s} {cpu[name][-1]:6.2f} steps/s (CPU time)  {wall[name][-1]:6.2f} (wall)", flush=True)
    for name in step:
        print(f"median {name:9s} {statistics.median(cpu[name]):6.2f} steps/s (CPU time)  "
              f"{statistics.median(wall[name]):6.2f} (wall)")
    print(f"speed-up (CPU time): {statistics.median(cpu['fused']) / statistics.median(cpu['reference']):.2f}x")


if __name__ == "__main__":
    main()
