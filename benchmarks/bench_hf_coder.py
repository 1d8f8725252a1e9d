"""Speed of ``coder:hf:PATH``: ms per denoiser forward, per sampling round and per program.

    uv run python benchmarks/bench_hf_coder.py                      # a tiny random BERT built here
    uv run python benchmarks/bench_hf_coder.py --model DIR --device cuda --dtype bf16   # your model

Without ``--model`` the script writes the tests' tiny masked LM (character-level tokenizer over
printable ASCII, BertForMaskedLM, hidden 32, 2 layers, random weights) to a temp folder. It
runs the agent's default acting rules (``CoderActConfig``: 16 samples, 16 steps, SMC every 4
steps) and ``HFCoderConfig``'s defaults (96 completion tokens) unless overridden, on the
prompts of ``--prompts`` held-out procedural tasks, one warm-up call first, one torch thread on
CPU. Forward times come from hooks on the denoiser (the 16 steps plus the SMC look-aheads);
a round is one ``generate`` call (``samples`` programs); per program = round / samples.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def tiny_masked_lm(folder: Path) -> Path:
    """The tests' tiny random masked LM and tokenizer, saved with ``save_pretrained``."""
    import transformers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(32, 127)] + ["\n", "\t"]
    tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(specials + chars)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                                cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=512)
    transformers.BertForMaskedLM(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def main() -> None:
    from adiff_env import config
    from adiff_env.code.config import CoderActConfig, HFCoderConfig
    from adiff_env.code.hf import HFCoder
    from adiff_env.code.tasks.procedural import families, generate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: build the tiny random one)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=config.default_of(HFCoderConfig, "dtype"))
    ap.add_argument("--max-new-tokens", type=int, default=config.default_of(HFCoderConfig, "max_new_tokens"))
    ap.add_argument("--samples", type=int, default=config.default_of(CoderActConfig, "samples"))
    ap.add_argument("--steps", type=int, default=config.default_of(CoderActConfig, "steps"))
    ap.add_argument("--prompts", type=int, default=8, help="tasks timed (held-out families, seeds 0..)")
    ap.add_argument("--trust-remote-code", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tmp = tempfile.TemporaryDirectory() if args.model is None else None
    folder = tiny_masked_lm(Path(tmp.name)) if tmp is not None else Path(args.model)
    hf = HFCoderConfig(dtype=args.dtype, max_new_tokens=args.max_new_tokens, trust_remote_code=args.trust_remote_code)
    act = CoderActConfig(samples=args.samples, steps=args.steps, sandbox=None)
    coder = HFCoder.from_pretrained(folder, hf, args.device)
    held_out = [f.name for f in families("test")]
    prompts = [generate(held_out[i % len(held_out)], i).prompt for i in range(args.prompts)]

    forwards: list[float] = []
    starts: list[float] = []

    def sync() -> None:
        if coder.device.type == "cuda":
            torch.cuda.synchronize()

    coder.denoiser.register_forward_pre_hook(lambda m, a: (sync(), starts.append(time.perf_counter())) and None)
    coder.denoiser.register_forward_hook(lambda m, a, o: (sync(), forwards.append(time.perf_counter() - starts[-1])) and None)
    gen = torch.Generator().manual_seed(0)
    coder.generate(prompts[0], act.samples, act, gen)  # warm-up
    forwards.clear()
    rounds = []
    for prompt in prompts:
        tic = time.perf_counter()
        coder.generate(prompt, act.samples, act, gen)
        sync()
        rounds.append(time.perf_counter() - tic)
    prompt_tokens = statistics.mean(len(coder.tokens.encode_prompt(p, coder.max_prompt_len)) for p in prompts)
    n_params = sum(p.numel() for p in coder.model.parameters())
    print(json.dumps({
        "model": "tiny random BERT (hidden 32, 2 layers)" if tmp is not None else str(folder), "params": n_params,
        "device": args.device, "dtype": hf.dtype, "threads": torch.get_num_threads(), "samples": act.samples,
        "steps": act.steps, "smc_every": act.smc_every, "max_new_tokens": hf.max_new_tokens,
        "prompt_tokens_mean": round(prompt_tokens, 1), "prompts": len(prompts),
        "forwards_per_round": len(forwards) / len(prompts),
        "ms_per_forward_median": round(1000 * statistics.median(forwards), 2),
        "ms_per_step_mean": round(1000 * statistics.mean(rounds) / act.steps, 2),
        "ms_per_round_median": round(1000 * statistics.median(rounds), 1),
        "ms_per_program": round(1000 * statistics.median(rounds) / act.samples, 2),
    }))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
