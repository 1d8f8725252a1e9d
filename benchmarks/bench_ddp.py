"""DDP training throughput: 1 process vs N torchrun ranks (gloo on CPU, NCCL on CUDA).

Runs ``adiff train`` on the shipped U-Maze preset (temporal U-Net ~1M parameters, H = 128,
batch 32 per rank) for ``--steps`` steps without evaluation, once plainly (1 process) and once
with ``--nproc N``, and reads each run's training-loop wall time from the registered
checkpoint (``extra.train_wall_s_this_session``: the loop only, not start-up). samples/s =
steps x batch x ranks / wall; efficiency = (samples/s with N) / (N x samples/s with 1).

Data: a real U-Maze dataset collected first (``--collect`` expert steps) unless ``--dataset``
names one already in MINARI_DATASETS_PATH. Everything goes under ``--workdir``.

``--coder``: the same comparison for ``adiff code train`` (the shipped ``coder-default``
preset: masked-diffusion transformer, d_model 128, 3 layers; ``--batch-size`` per rank,
default the preset's 64) on a corpus of verified reference programs built first
(``--corpus-seeds``, process sandbox) unless ``--corpus`` names one; the wall time is the
checkpoint's ``extra.train_wall_s`` (the loop, no evaluation: ``--eval-tasks 0``).

    uv run python benchmarks/bench_ddp.py --nproc 2 --steps 150 --workdir /tmp/bench-ddp
    uv run python benchmarks/bench_ddp.py --coder --nproc 2 --steps 60 --workdir /tmp/bench-ddp-coder
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=None, help="per rank (default: the preset's, 32 maze / 64 coder)")
    p.add_argument("--coder", action="store_true", help="benchmark adiff code train (coder-default) instead of the maze")
    p.add_argument("--corpus", default=None, help="--coder: corpus .jsonl (default: built into the workdir)")
    p.add_argument("--corpus-seeds", default="1000:1030", help="--coder: task seeds of the built corpus (default 1000:1030)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dataset", default=None)
    p.add_argument("--collect", type=int, default=20_000)
    p.add_argument("--workdir", default="bench-ddp-out")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    work = Path(args.workdir).resolve()
    env = {**os.environ, "ADIFF_HOME": str(work / "home"), "OMP_NUM_THREADS": "1"}
    env.setdefault("MINARI_DATASETS_PATH", str(work / "minari"))
    os.environ.update(env)
    if args.coder:
        return coder(args, work, env)
    args.batch_size = args.batch_size or 32
    dataset = args.dataset
    if dataset is None:
        import minari

        dataset = "bench/umaze-ddp-v0"
        if dataset not in minari.list_local_datasets():
            from adiff_env.datasets.collect import collect_dataset

            collect_dataset("adiff/PointMaze-UMaze-v0", args.collect, seed=0, dataset_id=dataset, progress=False)
    from adiff_env.registry import ModelRegistry

    rows = []
    for nproc in (1, args.nproc):
        name = f"bench-ddp-{nproc}"
        cmd = [sys.executable, "-m", "adiff_env.cli.main", "--threads", "1", "train", "adiff/PointMaze-UMaze-v0",
               "--preset", "pointmaze-umaze", "--dataset", dataset, "--name", name, "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--eval-every", "0", "--device", args.device, "--quiet",
               "--run-dir", str(work / "runs" / f"{name}-{len(ModelRegistry().versions(name)) + 1}")]
        if nproc > 1:
            cmd += ["--nproc", str(nproc)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, env=env, check=True)
        meta = ModelRegistry().load(name).metadata
        wall = meta.extra["train_wall_s_this_session"]
        rows.append({"ranks": nproc, "steps": meta.steps, "global_batch": args.batch_size * nproc, "wall_s": wall,
                     "samples_per_s": meta.steps * args.batch_size * nproc / wall, "steps_per_s": meta.steps / wall})
    report(rows, args, "maze train, pointmaze-umaze preset")


def coder(args: argparse.Namespace, work: Path, env: dict) -> None:
    """``adiff code train --preset coder-default`` on 1 and on ``--nproc`` ranks."""
    from adiff_env.code.corpus import build_corpus, save_corpus
    from adiff_env.registry import ModelRegistry

    args.batch_size = args.batch_size or 64
    corpus = Path(args.corpus) if args.corpus else work / "corpus.jsonl"
    if not corpus.is_file():
        start, _, stop = args.corpus_seeds.partition(":")
        examples = build_corpus(seeds=range(int(start), int(stop)), sandbox="process", progress=False)
        save_corpus(examples, corpus)
        print(f"corpus: {len(examples)} verified programs -> {corpus}")
    rows = []
    for nproc in (1, args.nproc):
        name = f"bench-coder-{nproc}"
        cmd = [sys.executable, "-m", "adiff_env.cli.main", "--threads", "1", "code", "train", "--preset", "coder-default",
               "--corpus", str(corpus), "--name", name, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
               "--eval-tasks", "0", "--checkpoint-every", "0", "--sandbox", "process", "--quiet",
               "--run-dir", str(work / "runs" / f"{name}-{len(ModelRegistry().versions(name)) + 1}")]
        if nproc > 1:
            cmd += ["--nproc", str(nproc)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, env=env, check=True)
        meta = ModelRegistry().load(name).metadata
        wall = meta.extra["train_wall_s"]
        rows.append({"ranks": nproc, "steps": meta.steps, "global_batch": args.batch_size * nproc, "wall_s": wall,
                     "samples_per_s": meta.steps * args.batch_size * nproc / wall, "steps_per_s": meta.steps / wall})
    report(rows, args, "code train, coder-default preset")


def report(rows: list[dict], args: argparse.Namespace, what: str) -> None:
    base = rows[0]["samples_per_s"]
    for r in rows:
        r["speedup"] = r["samples_per_s"] / base
        r["efficiency"] = r["speedup"] / r["ranks"]
    print(f"\n{what}: {os.cpu_count()} CPUs, device {args.device}, batch {args.batch_size} per rank, {args.steps} steps")
    print("| ranks | global batch | loop wall s | steps/s | samples/s | speed-up | efficiency |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['ranks']} | {r['global_batch']} | {r['wall_s']:.1f} | {r['steps_per_s']:.2f} | {r['samples_per_s']:.0f} | "
              f"{r['speedup']:.2f}x | {100 * r['efficiency']:.0f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
