"""Masked discrete diffusion sampling speed: programs/s at batch 1 by number of denoising steps.

Model: the default :class:`MaskedTransformerConfig` (d_model 128, 3 layers, 4 heads) with a
``--vocab`` token vocabulary, prompt P=80, target L=48, untrained weights (speed does not
depend on them), confidence unmasking at temperature 1, one torch thread by default.

    uv run python benchmarks/bench_discrete_sampler.py
    uv run python benchmarks/bench_discrete_sampler.py --steps 4 8 16 32 --repeats 30 --json out.json
    uv run python benchmarks/bench_discrete_sampler.py --compare-layers   # SDPA blocks vs nn.TransformerEncoderLayer

Prints a table (median and min ms per program, programs/s), the forward-pass time, the machine
and its load average (the medians are only meaningful on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch import nn

from adiff_env.diffusion import (
    MaskedSampler,
    MaskedTransformer,
    MaskedTransformerConfig,
    UnmaskConfig,
    count_parameters,
)


def _times_ms(fn, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _median_ms(fn, repeats: int, warmup: int = 3) -> float:
    return statistics.median(_times_ms(fn, repeats, warmup))


def compare_layers(model: MaskedTransformer, seq: int, repeats: int) -> list[dict]:
    """Encoder stack only, [B, seq, d] -> same: our SDPA blocks vs nn.TransformerEncoder(norm_first)."""
    c = model.config
    ref = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(c.d_model, c.n_heads, 4 * c.d_model, 0.0, activation="gelu",
                                   batch_first=True, norm_first=True),
        c.n_layers, enable_nested_tensor=False,
    ).eval()
    rows = []
    for batch in (1, 64):
        h = torch.randn(batch, seq, c.d_model)
        pad = torch.zeros(batch, seq, dtype=torch.bool)
        pad[:, -8:] = True
        n = repeats if batch == 1 else max(repeats // 10, 3)
        with torch.inference_mode():
            rows.append({
                "batch": batch,
                "sdpa_ms": _median_ms(lambda: model._encode(h, None), n),
                "torch_layer_ms": _median_ms(lambda: ref(h), n),
                "sdpa_pad_ms": _median_ms(lambda: model._encode(h, pad), n),
                "torch_layer_pad_ms": _median_ms(lambda: ref(h, src_key_padding_mask=pad), n),
            })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--prompt-len", type=int, default=80)
    ap.add_argument("--length", type=int, default=48)
    ap.add_argument("--remask", type=float, default=0.0)
    ap.add_argument("--compare-layers", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = MaskedTransformerConfig(vocab_size=args.vocab, max_prompt_len=max(128, args.prompt_len),
                                     max_len=max(96, args.length))
    model = MaskedTransformer(config).eval()
    mask_id = args.vocab - 1
    prompt = torch.randint(0, mask_id, (1, args.prompt_len))
    x = torch.randint(0, mask_id, (1, args.length))
    lengths = torch.tensor([args.length])
    with torch.inference_mode():
        fwd_times = _times_ms(lambda: model(x, prompt), args.repeats * 10)
    fwd, fwd_min = statistics.median(fwd_times), min(fwd_times)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} thread(s); {count_parameters(model) / 1e6:.2f}M params, V={args.vocab}, "
          f"P={args.prompt_len}, L={args.length}")
    print(f"# load average {os.getloadavg()[0]:.1f} (a shared machine inflates the medians; min = least disturbed)")
    print(f"# batch-1 forward: median {fwd:.2f} ms, min {fwd_min:.2f} ms")
    rows = []
    print(f"{'steps':>5} | {'ms/program':>10} | {'programs/s':>10} | {'min ms':>7} | {'best prog/s':>11}")
    for steps in args.steps:
        sampler = MaskedSampler(model, mask_id, UnmaskConfig(steps=steps, remask=args.remask))
        gen = torch.Generator().manual_seed(0)
        times = _times_ms(lambda: sampler.sample(prompt, None, lengths, gen), args.repeats)
        ms, best = statistics.median(times), min(times)
        rows.append({"steps": steps, "ms_per_program": ms, "programs_per_s": 1000.0 / ms, "min_ms": best})
        print(f"{steps:>5} | {ms:>10.1f} | {1000.0 / ms:>10.1f} | {best:>7.1f} | {1000.0 / best:>11.1f}")
    result = {"threads": args.threads, "forward_ms": fwd, "forward_min_ms": fwd_min, "rows": rows, "vocab": args.vocab,
              "prompt_len": args.prompt_len, "length": args.length, "remask": args.remask}
    if args.compare_layers:
        cmp = compare_layers(model, args.prompt_len + args.length, args.repeats * 5)
        result["layers"] = cmp
        print(f"# encoder stack, S={args.prompt_len + args.length}: SDPA blocks vs nn.TransformerEncoderLayer(norm_first)")
        for r in cmp:
            print(f"batch {r['batch']:>2}: sdpa {r['sdpa_ms']:.2f} ms, torch layer {r['torch_layer_ms']:.2f} ms; "
                  f"with key pad: sdpa {r['sdpa_pad_ms']:.2f} ms, torch layer {r['torch_layer_pad_ms']:.2f} ms")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
