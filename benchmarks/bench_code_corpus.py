"""Time build_corpus and report corpus size, tokenizer vocab and token-length statistics.

    uv run python benchmarks/bench_code_corpus.py --start 1000 --stop 1300 --workers 2 [--sandbox docker]

Measured 2026-11-27 (2 shared cores, nice 10, a training running beside it, process sandbox,
workers 2): 21,588 examples for 3,600 tasks, 0 dropped, 963 s; vocab_size 351 (182 learned);
program tokens mean 38.1 / max 70, prompt tokens mean 47.3 / max 58, no program needs spelling.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

from adiff_env.code.corpus import build_corpus, save_corpus
from adiff_env.code.tokenizer import CodeTokenizer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=int, default=1000)
    ap.add_argument("--stop", type=int, default=1300)
    ap.add_argument("--sandbox", default="process")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--families", nargs="*", default=None)
    ap.add_argument("--out", default=None, help="save the corpus JSONL here")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.INFO)
    t0 = time.perf_counter()
    examples = build_corpus(seeds=range(args.start, args.stop), sandbox=args.sandbox, workers=args.workers,
                            family_names=args.families)
    wall = time.perf_counter() - t0
    tasks = len({e.task_id for e in examples})
    print(f"sandbox={args.sandbox} workers={args.workers} seeds={args.start}..{args.stop - 1}: "
          f"{len(examples)} examples for {tasks} tasks in {wall:.1f} s ({len(examples) / wall:.1f} programs/s kept)")
    if args.out:
        save_corpus(examples, args.out)
    tok = CodeTokenizer.train([e.prompt for e in examples], [e.program for e in examples], paired=True)
    prog, prompt = [], []
    for e in examples:
        ep = tok.encode_prompt(e.prompt)
        prompt.append(len(ep.ids))
        prog.append(len(tok.encode_program(e.program, ep)))
    print(f"vocab_size={tok.vocab_size} (learned {len(tok.vocab)})")
    print(f"program tokens: mean {statistics.mean(prog):.1f} max {max(prog)}; "
          f"prompt tokens: mean {statistics.mean(prompt):.1f} max {max(prompt)}")


if __name__ == "__main__":
    main()
