"""Code planner tables: pass@k on unseen tasks and sampling speed, diffusion vs autoregressive.

    uv run python benchmarks/bench_coder.py --coder coder --coder coder-ar --per-family 10 --samples 10

For each coder (registry spec; ``default`` = the shipped checkpoint):
- pass@1 and pass@10 of raw samples (no selection) on (a) unseen instances of the training
  families (seeds start..start+per_family-1; default start 100, outside the seeds that
  ``adiff code evolve`` selects versions on) and (b) the held-out families, and the parse rate;
- programs/s at batch 1 (one program per call, one torch thread) for each ``--steps`` value
  (diffusion; the AR model has no step count and is timed once), median of ``--speed-prompts``
  calls after one warm-up call.
Prints a Markdown table and appends JSON lines to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def speed(coder, act, prompts: list[str], repeats: int = 1) -> float:
    gen = torch.Generator().manual_seed(0)
    coder.generate(prompts[0], 1, act, gen)  # warm-up
    times = []
    for prompt in prompts:
        for _ in range(repeats):
            tic = time.perf_counter()
            coder.generate(prompt, 1, act, gen)
            times.append(time.perf_counter() - tic)
    return 1.0 / statistics.median(times)


def main() -> None:
    from adiff_env.code.coder import DEFAULT_MODEL, CoderActConfig, load_coder
    from adiff_env.code.evaluate import eval_tasks, evaluate_pass_at_k

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coder", action="append", required=True, help="registry spec (repeatable)")
    ap.add_argument("--per-family", type=int, default=10)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--start", type=int, default=100, help="first task seed (default 100: seeds 0..99 are left to "
                    "`adiff code evolve`'s model selection, so these tasks are held out from it too)")
    ap.add_argument("--steps", default="4,8,16,32", help="diffusion step counts timed (comma-separated)")
    ap.add_argument("--speed-prompts", type=int, default=24)
    ap.add_argument("--no-passk", action="store_true", help="only time sampling")
    ap.add_argument("--sandbox", choices=["docker", "process"], default="docker", help="where the tests run")
    ap.add_argument("--out", default="bench-coder.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    speed_prompts = [t.prompt for t in eval_tasks("train", 2)][: args.speed_prompts]
    for spec in args.coder:
        coder, ckpt = load_coder(DEFAULT_MODEL if spec == "default" else spec)
        act = CoderActConfig.from_dict({**ckpt.config.get("act", {}), "sandbox": None})
        row = {"coder": ckpt.spec, "start": args.start, "per_family": args.per_family, "samples": args.samples,
               "kind": ckpt.metadata.kind, "train_steps": ckpt.metadata.steps,
               "train_wall_s": ckpt.metadata.extra.get("train_wall_s"),
               "parameters": sum(p.numel() for p in coder.model.parameters()), "act": act.__dict__}
        if not args.no_passk:
            for split in ("train", "test"):
                out = evaluate_pass_at_k(coder, eval_tasks(split, args.per_family, args.start), act, n=args.samples,
                                         ks=(1, args.samples), sandbox=args.sandbox)
                out.pop("per_task")
                row[split] = out
        steps = [int(s) for s in args.steps.split(",")] if ckpt.metadata.kind == "code-planner" else [None]
        row["programs_per_s"] = {}
        for s in steps:
            a = CoderActConfig.from_dict({**act.__dict__, **({"steps": s} if s else {})})
            row["programs_per_s"][str(s)] = speed(coder, a, speed_prompts)
        rows.append(row)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
    k = args.samples
    print(f"| coder | params | train steps | (a) pass@1 | (a) pass@{k} | (b) pass@1 | (b) pass@{k} | programs/s (steps) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r.get("train", {}), r.get("test", {})
        sp = ", ".join(f"{v:.1f} ({s})" if s != "None" else f"{v:.1f}" for s, v in r["programs_per_s"].items())
        fmt = lambda d, key: f"{100 * d[key]:.1f}" if key in d else "-"  # noqa: E731
        print(f"| {r['coder']} | {r['parameters'] / 1e6:.2f}M | {r['train_steps']} | {fmt(a, 'pass@1')} | "
              f"{fmt(a, f'pass@{k}')} | {fmt(b, 'pass@1')} | {fmt(b, f'pass@{k}')} | {sp} |")


if __name__ == "__main__":
    main()
