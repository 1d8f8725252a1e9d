"""In-process pieces of the DDP path (no process group): the data order, the row split, the
global loss normaliser, the torchrun command and the CLI's child arguments."""

from __future__ import annotations

import argparse

import pytest
import torch

from adiff_env.diffusion import DiffusionObjective, Inpainting, TemporalUNet, UNetConfig, make_schedule
from adiff_env.distributed import ddp
from adiff_env.planners.preset import TrainConfig


class _Toy(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 37

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(i)


def _global_batches(world_size: int, batch: int, n: int, start_step: int = 0) -> list[list[int]]:
    """Global batch k as one process with batch W*B would see it: rank r's rows at positions r::W."""
    ranks = [ddp.distributed_batches(_Toy(), batch, 3, ddp.World(r, world_size, r, True), start_step) for r in range(world_size)]
    out = []
    for _ in range(n):
        parts = [next(it).tolist() for it in ranks]
        merged = [None] * (batch * world_size)
        for r, part in enumerate(parts):
            merged[r::world_size] = part
        out.append(merged)
    return out


def test_two_ranks_see_the_global_batches_of_one_rank_with_twice_the_batch_across_epochs_and_resume():
    one = _global_batches(1, 8, 7)  # 37 windows: 4 batches of 8 per epoch, so 7 spans two epochs
    assert _global_batches(2, 4, 7) == one
    assert _global_batches(2, 4, 4, start_step=3) == one[3:]
    assert one[0] != one[4]  # each epoch its own permutation
    assert all(len(set(b)) == 8 for b in one)


def test_local_rows_and_inactive_world():
    x = torch.arange(12).view(6, 2)
    assert ddp.local_rows(x, ddp.World(1, 3, 1, True)).tolist() == [[2, 3], [8, 9]]
    assert ddp.local_rows(x, ddp.World()) is x
    assert ddp.global_mean_weight(ddp.World()) is None
    assert ddp.world() == ddp.World() and not ddp.under_torchrun()


def test_global_weight_sum_makes_the_mean_of_rank_gradients_the_global_gradient():
    torch.manual_seed(0)
    model = TemporalUNet(UNetConfig(transition_dim=3, horizon=8, dim=8, dim_mults=(1, 2)))
    objective = DiffusionObjective(make_schedule("cosine", 8), prediction="x0")
    x0, t, noise = torch.randn(4, 8, 3), torch.tensor([0, 3, 5, 7]), torch.randn(4, 8, 3)
    mask = torch.zeros(4, 8, 3, dtype=torch.bool)
    mask[0, 4:], mask[1, 2:], mask[2, 6:], mask[3, 5:] = True, True, True, True  # rank weight sums differ
    cond = Inpainting(mask, x0)

    def grads(rows, weight_sum=None):
        model.zero_grad()
        sub = Inpainting(mask[rows], x0[rows])
        objective(model, x0[rows], conditioner=sub, t=t[rows], noise=noise[rows], weight_sum=weight_sum).loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    full = grads(slice(None))
    den = [float(cond.free_mask(x0)[r].sum()) for r in (slice(0, 4, 2), slice(1, 4, 2))]
    halves = [grads(r, lambda d: torch.tensor(sum(den) / 2)) for r in (slice(0, 4, 2), slice(1, 4, 2))]
    for g, a, b in zip(full, *halves):
        assert torch.allclose(g, (a + b) / 2, rtol=1e-4, atol=1e-5), (g - (a + b) / 2).abs().max()
    naive = [grads(r) for r in (slice(0, 4, 2), slice(1, 4, 2))]  # per-rank ratios: not the global gradient
    assert max((g - (a + b) / 2).abs().max().item() for g, a, b in zip(full, *naive)) > 1e-2


def test_torchrun_command_and_multinode_hint():
    cmd = ddp.torchrun_command(2, ["train", "x"], endpoint="127.0.0.1:1234", run_id="r")
    assert cmd[1:] == ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
                       "--rdzv-endpoint", "127.0.0.1:1234", "--rdzv-id", "r", "--max-restarts", "0",
                       "-m", "adiff_env.cli.main", "train", "x"]
    hint = ddp.multinode_hint(8, ["train", "x"])
    assert "--nnodes 4 --nproc-per-node 8" in hint and "--rdzv-endpoint HEAD_NODE_ADDRESS:29500" in hint
    with pytest.raises(ValueError, match="nproc and nnodes"):
        ddp.torchrun_command(0, [])
    assert ddp.backend_for("cuda:1") == "nccl" and ddp.backend_for("cpu") == "gloo"
    assert ddp.rank_device("cuda", 3) == "cuda:3" and ddp.rank_device("cuda:0", 3) == "cuda:0"


def test_cli_child_argv_drops_nproc_and_pins_the_run_dir(tmp_path):
    from adiff_env.cli.main import build_parser
    from adiff_env.cli.maze import child_argv

    args = build_parser().parse_args(["--threads", "1", "maze", "train", "adiff/X", "--preset", "p", "--nproc", "2", "--steps", "5",
                                      "--batch-size", "4", "--amp", "bf16", "--compile", "--quiet",
                                      "--init-from", "planner:base@v2"])
    argv = child_argv(args, tmp_path / "run")
    assert "--nproc" not in argv and argv[:5] == ["--threads", "1", "maze", "train", "adiff/X"]
    assert build_parser().parse_args(argv).run_dir == tmp_path / "run"
    parsed = build_parser().parse_args(argv)
    assert (parsed.steps, parsed.batch_size, parsed.amp, parsed.compile, parsed.quiet) == (5, 4, "bf16", True, True)
    assert parsed.init_from == "planner:base@v2"  # every rank starts from the same weights
    assert isinstance(parsed, argparse.Namespace)


def test_train_config_amp_is_validated():
    assert TrainConfig(amp="bf16").amp == "bf16"
    with pytest.raises(ValueError, match="Unknown mixed-precision mode 'fp8'"):
        TrainConfig(amp="fp8")


def test_rank_noise_streams_are_reproducible_and_distinct():
    draw = lambda seed, step, rank: torch.randn(4, generator=ddp.step_generator(seed, step, rank))  # noqa: E731
    assert torch.equal(draw(0, 5, 1), draw(0, 5, 1))
    assert not torch.equal(draw(0, 5, 1), draw(0, 5, 0)) and not torch.equal(draw(0, 5, 1), draw(0, 6, 1))
    assert not torch.equal(draw(0, 5, 1), draw(1, 5, 1))
    with pytest.raises(ValueError, match="Unknown DDP noise mode"):
        TrainConfig(ddp_noise="local")
