"""All-reduce cost of the denoiser's gradients: N gloo (CPU) or NCCL (CUDA) ranks on this
machine all-reduce a float32 tensor of ``--numel`` entries (default 997,830: the U-Maze preset's
denoiser, 3.99 MB) ``--repeats`` times; prints the median ms per all-reduce and the bus rate.

    uv run python benchmarks/bench_allreduce.py --nproc 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _rank(rank: int, nproc: int, port: int, numel: int, repeats: int, device: str, out: str) -> None:
    torch.set_num_threads(1)
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nproc,
                            timeout=timedelta(seconds=120))
    dev = torch.device("cuda", rank) if device == "cuda" else torch.device("cpu")
    x = torch.ones(numel, device=dev)
    for _ in range(3):
        dist.all_reduce(x)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize(dev)
        tic = time.perf_counter()
        dist.all_reduce(x)
        if device == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - tic)
    if rank == 0:
        ms = 1000 * statistics.median(times)
        row = {"ranks": nproc, "backend": backend, "mb": numel * 4 / 1e6, "ms_median": ms,
               "bus_gb_per_s": 2 * (nproc - 1) / nproc * numel * 4 / (ms / 1000) / 1e9}
        with open(out, "w") as fh:
            json.dump(row, fh)
    dist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--numel", type=int, default=997_830)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    from adiff_env.distributed.ddp import free_port

    out = f"/tmp/adiff-allreduce-{os.getpid()}.json"
    mp.spawn(_rank, args=(args.nproc, free_port(), args.numel, args.repeats, args.device, out), nprocs=args.nproc, join=True)
    with open(out) as fh:
        row = json.load(fh)
    os.unlink(out)
    print(json.dumps(row))
    print(f"{row['ranks']} {row['backend']} ranks, {row['mb']:.2f} MB: {row['ms_median']:.1f} ms per all-reduce (median of "
          f"{args.repeats}), bus rate {row['bus_gb_per_s']:.2f} GB/s")


if __name__ == "__main__":
    main()
