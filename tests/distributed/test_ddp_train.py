"""DDP training with real gloo ranks on 127.0.0.1 (real processes; the test picks a free port,
ranks time out after 120 s, stragglers are killed): parameters stay identical across ranks,
2 ranks x batch B train exactly as 1 rank x batch 2B on the same data order, and
``adiff train --nproc 2`` runs under torchrun, resumes a run and registers once (rank 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from adiff_env.distributed import ddp

pytestmark = pytest.mark.slow
ENV = "adiff/PointMaze-UMaze-v0"
DATASET = "test/umaze-ddp-v0"
WORKER = Path(__file__).with_name("ddp_worker.py")
STEPS, B = 12, 8


@pytest.fixture(scope="module")
def dataset_home(tmp_path_factory):
    """A real 3,000-step U-Maze Minari dataset on disk (seconds)."""
    from adiff_env.datasets.collect import collect_dataset

    root = tmp_path_factory.mktemp("ddp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        collect_dataset(ENV, 3000, seed=0, dataset_id=DATASET, episode_steps=1000, progress=False)
    return root


def _start_group(world_size: int, batch: int, out: Path, home: Path) -> list[subprocess.Popen]:
    out.mkdir(parents=True)
    config = out / "config.json"
    config.write_text(json.dumps({"dataset": DATASET, "steps": STEPS, "batch_size": batch, "out": str(out), "timeout_s": 120}))
    env = {**os.environ, "MINARI_DATASETS_PATH": str(home / "minari"), "ADIFF_HOME": str(out / "home"),
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ddp.free_port()), "WORLD_SIZE": str(world_size),
           "OMP_NUM_THREADS": "1"}
    procs = []
    for rank in range(world_size):
        rank_env = {**env, "RANK": str(rank), "LOCAL_RANK": str(rank)}
        log = open(out / f"rank{rank}.log", "w")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(config)], env=rank_env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def _wait_all(procs: list[subprocess.Popen], logs: list[Path], timeout_s: float = 400) -> None:
    """Wait for every rank; on a failure or the deadline kill the stragglers and fail with the logs."""
    deadline = time.monotonic() + timeout_s
    try:
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if any(p.returncode != 0 for p in procs):
        tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
        pytest.fail(f"ranks exited with {[p.returncode for p in procs]}:\n{tails}")


def _load(out: Path, rank: int) -> dict:
    return torch.load(out / f"rank{rank}.pt", weights_only=True)


def test_two_ranks_stay_identical_and_match_one_rank_with_twice_the_batch(dataset_home, tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    procs = _start_group(2, B, two, dataset_home) + _start_group(1, 2 * B, one, dataset_home)
    _wait_all(procs, [two / "rank0.log", two / "rank1.log", one / "rank0.log"])
    r0, r1, single = _load(two, 0), _load(two, 1), _load(one, 0)
    assert (r0["world_size"], r1["world_size"], single["world_size"]) == (2, 2, 1)
    assert r0["registered"] and not r1["registered"]  # rank 0 alone registers
    for module in ("model", "ema", "inv"):
        for name, value in r0["states"][module].items():
            assert torch.equal(value, r1["states"][module][name]), f"{module}.{name} differs across ranks"

    # In the tiny net (8 channels, GroupNorm with 8 groups) the conv bias ahead of each GroupNorm is
    # cancelled by it: its gradient is 0 in exact arithmetic, so Adam's sign-like steps turn rounding
    # noise into +-lr moves there. Those biases cannot change the output; the outputs are compared below.
    init, singles, twos = _tiny_model().state_dict(), single["states"]["model"], r0["states"]["model"]
    moved = max((v - init[k]).abs().max().item() for k, v in singles.items())
    diff = max((v - singles[k]).abs().max().item() for k, v in twos.items() if not k.endswith("block.0.bias"))
    assert moved > 1e-3, f"training barely moved the weights ({moved})"
    assert diff < 5e-5, f"2 ranks x {B} differ from 1 rank x {2 * B} by {diff} (weights moved {moved})"
    for module in ("model", "ema"):
        outputs = []
        for states in (r0["states"], single["states"]):
            net = _tiny_model()
            net.load_state_dict(states[module])
            g = torch.Generator().manual_seed(1)
            x, t, cond = torch.randn(4, 16, 6, generator=g), torch.tensor([0, 2, 5, 7]), torch.randn(4, 7, generator=g)
            with torch.no_grad():
                outputs.append(net.eval()(x, t, cond))
        assert torch.allclose(outputs[0], outputs[1], atol=1e-5), f"{module}: outputs differ by {(outputs[0] - outputs[1]).abs().max()}"
    assert abs(r0["loss"] - single["loss"]) < 1e-5 * max(1.0, abs(single["loss"]))
    inv_diff = max((v - single["states"]["inv"][k]).abs().max().item() for k, v in r0["states"]["inv"].items())
    assert inv_diff < 1e-5


def _tiny_model() -> torch.nn.Module:
    """The workers' denoiser as train_planner builds it (same seed: its initial weights)."""
    sys.path.insert(0, str(WORKER.parent))
    try:
        from ddp_worker import tiny_preset
    finally:
        sys.path.pop(0)
    from adiff_env.diffusion import build_model

    preset = tiny_preset(DATASET, STEPS, B)
    torch.manual_seed(preset.train.seed)
    a, o = 2, 4
    return build_model({"arch": preset.model.arch, "config": preset.model.denoiser_config(a + o, 16, o + 3)})


def _preset_toml(path: Path) -> Path:
    path.write_text(f"""
name = "tiny-cli-ddp"
env = "{ENV}"
dataset = "{DATASET}"
[data]
horizon = 16
goal_mode = "hindsight"
min_goal_index = 4
[model]
arch = "temporal_unet"
dim = 8
dim_mults = [1, 2]
[diffusion]
n_timesteps = 8
[train]
batch_size = 8
eval_every = 0
checkpoint_every = 4
inverse_dynamics_hidden = 16
""")
    return path


@pytest.mark.timeout(900)
def test_cli_nproc_2_resumes_and_registers_once(dataset_home, tmp_path, monkeypatch, capsys):
    from adiff_env.cli.main import main
    from adiff_env.registry import ModelRegistry

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_home / "minari"))
    preset, run = _preset_toml(tmp_path / "tiny.toml"), tmp_path / "run"
    base = ["--threads", "1", "maze", "train", ENV, "--preset", str(preset), "--run-dir", str(run), "--quiet"]
    assert main([*base, "--steps", "4"]) == 0  # one process (in this one), then resumed on 2 torchrun ranks
    assert main([*base, "--steps", "8", "--resume", "--nproc", "2", "--ddp-noise", "rank"]) == 0
    printed = capsys.readouterr().out
    assert "--nnodes 4" in printed and "--rdzv-endpoint HEAD_NODE_ADDRESS:29500" in printed
    versions = ModelRegistry().versions("tiny-cli-ddp")
    assert len(versions) == 2  # one registration per run: rank 0 only
    last = ModelRegistry().load("tiny-cli-ddp")
    assert last.metadata.steps == 8
    assert last.metadata.extra["world_size"] == 2 and last.metadata.extra["resumed_at_step"] == 4
    assert last.metadata.extra["ddp_noise"] == "rank"
    assert ModelRegistry().load("tiny-cli-ddp@v1").metadata.extra["world_size"] == 1


def test_bf16_autocast_trains_on_cpu_and_compile_wraps_the_denoiser(dataset_home, tmp_path, monkeypatch):
    """One process, real data: ``amp = "bf16"`` runs the denoiser under bf16 autocast (its
    outputs are bf16) and ``compile = true`` hands the denoiser to ``torch.compile`` (recorded
    here instead of compiled: inductor takes minutes on this machine; benchmarks/gpu_check.py
    measures the real thing)."""
    sys.path.insert(0, str(WORKER.parent))
    try:
        from ddp_worker import tiny_preset
    finally:
        sys.path.pop(0)
    from adiff_env.planners.train import train_planner
    from adiff_env.registry import ModelRegistry

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(dataset_home / "minari"))
    compiled, dtypes = [], []

    def fake_compile(module):
        compiled.append(module)
        module.register_forward_hook(lambda m, args, out: dtypes.append(out.dtype))
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    preset = tiny_preset(DATASET, 3, 8).replace(train={"amp": "bf16", "compile": True})
    result = train_planner(preset, run_dir=tmp_path / "run", progress=False, registry=ModelRegistry(tmp_path / "models"))
    assert compiled == [result.modules["model"]]  # one process: the plain denoiser, no DDP wrapper
    assert dtypes == [torch.bfloat16] * 3
    assert torch.isfinite(torch.tensor(result.final_loss))
    extra = result.checkpoint.metadata.extra
    assert (extra["amp"], extra["compile"], extra["world_size"]) == ("bf16", True, 1)
