"""DDP for the coder's training with real gloo ranks on 127.0.0.1 (real processes; the test
picks a free port, ranks time out after 120 s, stragglers are killed): weights stay identical
across ranks, 2 ranks x batch B train as 1 rank x batch 2B on the same data order, and
``adiff code train --nproc 2 --resume`` continues a one-process run on 2 torchrun ranks and
registers once (rank 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adiff_env.distributed import ddp

sys.path.insert(0, str(Path(__file__).parent))
from test_ddp_train import _wait_all  # noqa: E402  (the maze DDP test's straggler-killing wait)

pytestmark = pytest.mark.slow
WORKER = Path(__file__).with_name("coder_ddp_worker.py")
STEPS, B = 6, 4
ARCHS = ["diffusion", "ar"]


def _start_group(world_size: int, batch: int, out: Path) -> list[subprocess.Popen]:
    out.mkdir(parents=True)
    config = out / "config.json"
    config.write_text(json.dumps({"steps": STEPS, "batch_size": batch, "out": str(out), "timeout_s": 120, "archs": ARCHS}))
    env = {**os.environ, "ADIFF_HOME": str(out / "home"), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ddp.free_port()),
           "WORLD_SIZE": str(world_size), "OMP_NUM_THREADS": "1"}
    procs = []
    for rank in range(world_size):
        log = open(out / f"rank{rank}.log", "w")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(config)], env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                                      stdout=log, stderr=subprocess.STDOUT))
    return procs


def test_two_coder_ranks_stay_identical_and_match_one_rank_with_twice_the_batch(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    procs = _start_group(2, B, two) + _start_group(1, 2 * B, one)
    _wait_all(procs, [two / "rank0.log", two / "rank1.log", one / "rank0.log"])
    for arch in ARCHS:
        _check(arch, *(torch.load(p / f"rank{r}-{arch}.pt", weights_only=True) for p, r in ((two, 0), (two, 1), (one, 0))))


def _check(arch: str, r0: dict, r1: dict, single: dict) -> None:
    assert (r0["world_size"], r1["world_size"], single["world_size"]) == (2, 2, 1)
    assert r0["registered"] and not r1["registered"] and single["registered"]  # rank 0 alone registers
    for module in ("model", "ema"):
        for name, value in r0["states"][module].items():
            assert torch.equal(value, r1["states"][module][name]), f"{arch}: {module}.{name} differs across ranks"
    # The key part of each attention's qkv bias adds the same number to every logit of a query, which
    # the softmax cancels: its gradient is 0 in exact arithmetic, so Adam's sign-like steps turn
    # rounding noise into +-lr moves there (as the maze test's GroupNorm biases). It cannot change the
    # output; everything else is compared, and the outputs below.
    d = single["model_config"]["d_model"]
    init, singles, twos = single["states"]["init"], single["states"]["model"], r0["states"]["model"]

    def moved_by(a: dict, b: dict) -> float:
        return max(((a[k] - v).abs() * _not_key_bias(k, v, d)).max().item() for k, v in b.items())

    moved = moved_by(singles, init)
    diff, ema_diff = moved_by(twos, singles), moved_by(r0["states"]["ema"], single["states"]["ema"])
    assert moved > 1e-3, f"training barely moved the weights ({moved})"
    assert diff < 5e-5 and ema_diff < 5e-5, f"{arch}: 2 ranks x {B} differ from 1 rank x {2 * B} by {diff} (EMA {ema_diff}; moved {moved})"
    assert abs(r0["loss"] - single["loss"]) < 1e-5 * max(1.0, abs(single["loss"]))
    from adiff_env.code.train import build_model

    g = torch.Generator().manual_seed(1)
    cfg = single["model_config"]
    x = torch.randint(0, cfg["vocab_size"], (3, 12), generator=g)
    p = torch.randint(0, cfg["vocab_size"], (3, 20), generator=g)
    outputs = []
    for states in (r0["states"]["ema"], single["states"]["ema"]):
        net = build_model(arch, cfg)
        net.load_state_dict(states)
        with torch.no_grad():
            outputs.append(net.eval()(x, p) if arch == "diffusion" else net.eval()(torch.cat([p, x], 1)))
    assert torch.allclose(outputs[0], outputs[1], atol=1e-4), f"{arch}: outputs differ by {(outputs[0] - outputs[1]).abs().max()}"


def _not_key_bias(name: str, value: torch.Tensor, d: int) -> torch.Tensor:
    keep = torch.ones_like(value)
    if name.endswith(("qkv.bias", "in_proj_bias")):
        keep[d: 2 * d] = 0
    return keep


@pytest.mark.timeout(900)
def test_cli_code_train_nproc_2_resumes_and_registers_once(tmp_path, capsys):
    from coder_ddp_worker import corpus

    from adiff_env.cli.main import main
    from adiff_env.code.corpus import save_corpus
    from adiff_env.registry import ModelRegistry

    save_corpus(corpus(), tmp_path / "corpus.jsonl")
    base = ["--threads", "1", "code", "train", "--corpus", str(tmp_path / "corpus.jsonl"), "--d-model", "32", "--layers", "1",
            "--n-heads", "2", "--batch-size", "4", "--checkpoint-every", "4", "--eval-tasks", "0", "--min-count", "1",
            "--name", "cli-ddp-coder", "--sandbox", "process", "--run-dir", str(tmp_path / "run"), "--quiet"]
    assert main([*base, "--steps", "4"]) == 0  # one process (in this one), then resumed on 2 torchrun ranks
    assert main([*base, "--steps", "8", "--resume", "--nproc", "2"]) == 0
    printed = capsys.readouterr().out
    assert "global batch 4 x 2 = 8" in printed and "--nnodes 4" in printed
    assert ModelRegistry().versions("cli-ddp-coder") == [1, 2]  # one registration per run: rank 0 only
    last = ModelRegistry().load("cli-ddp-coder")
    assert last.metadata.steps == 8
    assert (last.metadata.extra["world_size"], last.metadata.extra["global_batch"]) == (2, 8)
    assert last.metadata.extra["resumed_at_step"] == 4
    assert ModelRegistry().load("cli-ddp-coder@v1").metadata.extra["world_size"] == 1
