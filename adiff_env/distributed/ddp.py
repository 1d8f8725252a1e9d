"""PyTorch DDP for training, launched by torchrun (``python -m torch.distributed.run``).

Launch. ``adiff train ... --nproc N`` calls :func:`launch`, which runs N copies of the same
command under torchrun on this machine (c10d rendezvous on ``127.0.0.1:PORT``, a free port
picked here); :func:`torchrun_command` with ``nnodes`` and a rendezvous endpoint gives the
same command for several nodes. Each copy finds torchrun's environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and :func:`process_group`
joins the group: gloo on CPU, NCCL on CUDA (rank ``r`` on ``cuda:LOCAL_RANK``).

Exact data parallelism. With ``W`` ranks and per-rank batch ``B`` the training loop is the
same computation as one process with batch ``W * B`` on the same data order:

- data: :func:`distributed_batches` shards one seeded permutation per epoch
  (``DistributedSampler``, ``drop_last``); rank ``r`` takes positions ``r, r + W, ...``, so
  global batch ``k`` is permutation entries ``[k W B, (k + 1) W B)`` in every world size, rank
  ``r`` holding its rows ``r::W``;
- noise: every rank's generator has the same seed and draws the whole global batch's timesteps
  and noise, keeping rows ``r::W`` (:func:`local_rows`); the generators stay in step, so a
  resumed run needs one generator state (the cost: ``W x`` the noise draws, small next to the
  denoiser's forward/backward up to tens of ranks; beyond, ``TrainConfig.ddp_noise = "rank"``
  draws per-rank streams from :func:`step_generator`: same distribution, O(1) cost);
- loss: the diffusion loss divides by the global batch's loss weight (:func:`global_mean_weight`),
  so DDP's gradient mean is the global batch's gradient, not a mean of per-rank ratios.

The parent of a test or the CLI picks the port; ranks time out (``timeout_s``) instead of
hanging when a peer dies; torchrun stops the remaining ranks when one fails.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place in the job. ``active``: a process group is initialised (also for
    a world of one, which then trains with the distributed data order)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    active: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, evaluates, writes checkpoints and registers."""
        return self.rank == 0


def world() -> World:
    """The current :class:`World` (rank 0 of 1, inactive, when no process group exists)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), True)
    return World()


def under_torchrun() -> bool:
    """True when torchrun (or a test parent) set ``WORLD_SIZE`` and ``RANK`` for this process."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def backend_for(device: str) -> str:
    """``"nccl"`` for CUDA devices, ``"gloo"`` otherwise."""
    return "nccl" if str(device).startswith("cuda") else "gloo"


def rank_device(device: str, local_rank: int) -> str:
    """``"cuda"`` -> ``"cuda:LOCAL_RANK"`` (one GPU per rank); any other device unchanged."""
    return f"cuda:{local_rank}" if str(device) == "cuda" else str(device)


@contextlib.contextmanager
def process_group(device: str = "cpu", timeout_s: float = 1800.0) -> Iterator[tuple[World, str]]:
    """Join torchrun's process group if this process runs under it, else do nothing.

    Yields ``(world, device)`` with the rank's device (``cuda`` -> ``cuda:LOCAL_RANK``).
    ``timeout_s`` bounds every collective (rank 0 evaluating while the others wait counts), so
    a dead peer ends the job with an error instead of a hang. The group is destroyed on exit."""
    if not under_torchrun() or (dist.is_available() and dist.is_initialized()):
        yield world(), str(device)
        return
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}.")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = rank_device(device, local_rank)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend_for(device), init_method="env://", timeout=timedelta(seconds=timeout_s))
    try:
        yield world(), device
    finally:
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, w: World, device: str) -> torch.nn.Module:
    """``module`` in ``DistributedDataParallel`` when a group is active (parameters broadcast from
    rank 0 at construction, gradients averaged in backward), else ``module`` itself."""
    if not w.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if str(device).startswith("cuda") else None
    return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def local_rows(x: torch.Tensor, w: World) -> torch.Tensor:
    """Rows ``rank::world_size`` of a global-batch tensor ``[W * B, ...]`` -> ``[B, ...]``."""
    return x[w.rank :: w.world_size] if w.active and w.world_size > 1 else x


def global_mean_weight(w: World) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """For :class:`~adiff_env.diffusion.DiffusionObjective`'s ``weight_sum``: this rank's loss
    weight -> ``sum over ranks / W`` (one scalar all-reduce), or None when not distributed."""
    if not (w.active and w.world_size > 1):
        return None

    def reduce(total: torch.Tensor) -> torch.Tensor:
        total = total.detach().clone()
        dist.all_reduce(total)
        return total / w.world_size

    return reduce


def mean_over_ranks(value: float, w: World) -> float:
    """The mean of a float over ranks (a collective: every rank must call it)."""
    if not (w.active and w.world_size > 1):
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.to(torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(t)
    return float(t.item()) / w.world_size


def barrier(w: World) -> None:
    if w.active and w.world_size > 1:
        dist.barrier()


def distributed_batches(dataset: Any, batch_size: int, seed: int, w: World, start_step: int = 0) -> Iterator[Any]:
    """Endless per-rank batches of ``batch_size`` in the exact data order of the module docstring,
    epoch ``e`` permuted with seed ``seed + e``; ``start_step`` skips the batches a resumed run
    already trained on (so a resume continues the same order)."""
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=w.world_size, rank=w.rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True)
    per_epoch = len(loader)
    if per_epoch == 0:
        raise ValueError(
            f"{len(dataset)} training windows give no full global batch of {batch_size} x {w.world_size} ranks; "
            "use a smaller --batch-size or fewer ranks.")
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        for i, batch in enumerate(loader):
            if i >= skip:
                yield batch
        epoch, skip = epoch + 1, 0


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The ``ddp_noise = "rank"`` stream of one rank at one step: a CPU generator seeded from
    ``(seed, step, rank)`` (no state to save, so a resumed run draws the same)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 65_537 + rank)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def torchrun_command(
    nproc: int, argv: Sequence[str], *, nnodes: int = 1, endpoint: str | None = None, run_id: str | None = None,
    python: str | None = None,
) -> list[str]:
    """``python -m torch.distributed.run --nnodes NN --nproc-per-node N --rdzv-backend c10d
    --rdzv-endpoint HOST:PORT --rdzv-id ID -m adiff_env.cli.main ARGV...``. On several nodes run
    the same command on each with the same endpoint (one node's address) and id."""
    if nproc < 1 or nnodes < 1:
        raise ValueError(f"nproc and nnodes must be >= 1, got {nproc} and {nnodes}.")
    endpoint = endpoint or f"127.0.0.1:{free_port()}"
    return [
        python or sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc-per-node", str(nproc),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", run_id or f"adiff-{uuid.uuid4().hex[:8]}",
        "--max-restarts", "0", "-m", "adiff_env.cli.main", *argv,
    ]


def multinode_hint(nproc: int, argv: Sequence[str]) -> str:
    """The command to run the same training on several nodes (printed by ``adiff train --nproc``)."""
    cmd = torchrun_command(nproc, argv, nnodes=4, endpoint="HEAD_NODE_ADDRESS:29500", run_id="adiff-train-1",
                           python="python")
    return shlex.join(cmd).replace("'HEAD_NODE_ADDRESS:29500'", "HEAD_NODE_ADDRESS:29500")


def launch(nproc: int, argv: Sequence[str], *, env: dict[str, str] | None = None) -> int:
    """Run ``adiff ARGV`` as ``nproc`` ranks under torchrun on this machine; returns its exit code.
    Ctrl-C stops torchrun, which stops its ranks."""
    cmd = torchrun_command(nproc, argv)
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.Popen(cmd, env=full_env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
