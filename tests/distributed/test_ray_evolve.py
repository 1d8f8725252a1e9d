"""``adiff maze evolve --ray`` on a local Ray cluster (``ray.init(num_cpus=2)``, one per module):
the Ray round gives the same rollouts and the same buffer as the local round with the same
shard count (a tiny real planner, real MuJoCo filter); a crashed actor is restarted and a
raising shard retried, a shard that keeps failing fails the round by name, never a silent
hole; the CLI runs a round with its generation on two actors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import adiff_env  # noqa: F401  (registers the adiff/ ids)
from adiff_env.evolve.buffer import TrajectoryBuffer
from adiff_env.evolve.domain import Generated, RunContext
from adiff_env.evolve.generation import run_local, split_range
from adiff_env.maze.evolve import MazeEvolveConfig, MazeEvolveDomain
from adiff_env.registry import ModelRegistry

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # workers on this venv (see test_ray_bench.py)
ray = pytest.importorskip("ray", reason="the optional extra adiff-env[ray] is not installed (uv sync --extra ray)")
from adiff_env.distributed.ray_evolve import RayGenerationExecutor, ShardsFailedError  # noqa: E402

pytestmark = pytest.mark.slow
ENV = "adiff/PointMaze-UMaze-v0"
DATASET = "test/umaze-ray-evolve-v0"


@pytest.fixture(scope="module")
def local_ray():
    for attempt in range(3):  # Ray waits 30 s for its own node to register; on a busy machine that can pass
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fake workers travel by value
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2,000 real expert steps and a tiny planner trained on them for 20 steps (seconds)."""
    from adiff_env.datasets.collect import collect_dataset
    from adiff_env.planners.preset import PlannerPreset
    from adiff_env.planners.train import train_planner

    root = tmp_path_factory.mktemp("ray-evolve")
    preset = PlannerPreset.from_dict({
        "name": "tiny", "env": ENV, "dataset": DATASET,
        "data": {"horizon": 16, "goal_mode": "hindsight", "min_goal_index": 4},
        "model": {"arch": "temporal_unet", "dim": 8, "dim_mults": [1, 2]},
        "diffusion": {"n_timesteps": 8},
        "train": {"steps": 20, "batch_size": 16, "eval_every": 0, "checkpoint_every": 20, "inverse_dynamics_hidden": 16},
        "act": {"sampler": "ddim", "sampler_steps": 4, "replan_every": 8},
    })
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
        collect_dataset(ENV, 2000, seed=0, dataset_id=DATASET, episode_steps=1000, progress=False)
        result = train_planner(preset, run_dir=root / "run", progress=False, registry=ModelRegistry(root / "models", []))
    return result.checkpoint, root


def _domain(ckpt, tmp_path, **over) -> MazeEvolveDomain:
    kw = dict(env_id=ENV, base="planner:tiny", rounds=1, samples=5, candidates=2, epsilon=100.0, require_success=False,
              shards=2, seed=3, min_distance=0.0, workdir=str(tmp_path / "work"))
    domain = MazeEvolveDomain(MazeEvolveConfig(**{**kw, **over}))
    domain._run = RunContext(registry=ModelRegistry(tmp_path / "home", []), name="tiny", base=ckpt, workdir=tmp_path,
                             progress=False)
    return domain


def _same(a: Generated, b: Generated) -> None:
    assert (a.generated, a.kept, a.extras) == (b.generated, b.kept, b.extras)
    assert a.rewards == b.rewards and len(a.items) == len(b.items)
    for x, y in zip(a.items, b.items):
        assert sorted(x) == sorted(y) and all(np.array_equal(x[k], y[k]) for k in x)


def test_ray_round_gives_the_local_rollouts_and_buffer(local_ray, tiny, tmp_path):
    ckpt, _ = tiny
    domain = _domain(ckpt, tmp_path)
    local = run_local(domain, ckpt, 2)
    with RayGenerationExecutor(2) as executor:
        remote = executor.generate(domain, ckpt, 2)
        again = executor.generate(domain, ckpt, 2)  # the same actors, their envs reused: the same again
    assert local.generated == 5 and len(local.items) == 5  # a wide epsilon keeps every executed rollout
    _same(local, remote)
    _same(local, again)
    buffers = []
    for gen in (local, remote):
        buf = TrajectoryBuffer(domain.buffer_config())
        buf.add_batch(gen.items, gen.rewards)
        buffers.append(buf)
    assert buffers[0].stats() == buffers[1].stats()
    assert [float(r) for r in buffers[0].rewards] == [float(r) for r in buffers[1].rewards]
    # shard 0 (pairs 0..2 of 5) is seeded as the unsharded round: it equals a 3-sample round in one shard
    first = run_local(_domain(ckpt, tmp_path, samples=3, shards=1), ckpt, 2)
    _same(first, Generated(items=local.items[:3], rewards=local.rewards[:3], generated=3, extras={"infeasible": 0,
                                                                                                  "unsuccessful": 0,
                                                                                                  "coinless": 0}))


def test_code_round_on_ray_gives_the_local_programs_and_verdicts(local_ray, tmp_path):
    """The code domain's shards (own process sandbox per actor): the same programs and test
    verdicts as the local round, and as one shard (every task has its own seed)."""
    from adiff_env.code.evolve import CodeEvolveConfig, CodeEvolveDomain

    reg = ModelRegistry(tmp_path / "home")
    ckpt = reg.load("coder-default")  # the shipped coder (a tiny fresh one writes nothing that parses)
    domains = []
    for shards in (3, 1):
        domain = CodeEvolveDomain(CodeEvolveConfig(base=str(ckpt.path), gen_per_family=1, samples=2, sandbox="process",
                                                   shards=shards))
        domain._run = RunContext(registry=reg, name="coder-default", base=ckpt, workdir=tmp_path, progress=False)
        domains.append(domain)
    try:
        local, whole = domains[0].generate(ckpt, 1), domains[1].generate(ckpt, 1)
        with RayGenerationExecutor(2) as executor:
            remote = executor.generate(domains[0], ckpt, 1)
    finally:
        for domain in domains:
            domain.close()
    assert local.extras["tasks"] == 12 and local.generated == 24 and local.items
    for other in (remote, whole):
        assert (other.items, other.rewards, other.generated, other.kept, other.extras) == \
            (local.items, local.rewards, local.generated, local.kept, local.extras)


class FlakyWorker:
    """Shard 1 kills its actor process on its first attempt, shard 2 raises once (marker files);
    a shard marked bad always raises."""

    def __init__(self, marker_dir: str) -> None:
        self.marker_dir = marker_dir

    def run(self, model, shard):
        index, (start, stop), bad = shard
        marker = Path(self.marker_dir) / f"{index}"
        if bad:
            raise RuntimeError(f"shard {index} is broken")
        if index in (1, 2) and not marker.exists():
            marker.write_text("failed once")
            if index == 1:
                os._exit(1)
            raise RuntimeError("transient failure")
        return Generated(items=[f"{model}:{i}" for i in range(start, stop)], rewards=[1.0] * (stop - start),
                         generated=stop - start, extras={"pid": [os.getpid()]})

    def close(self) -> None:
        pass


class FakeDomain:
    """7 items in 4 shards; in round 4 shard 3 is broken."""

    def __init__(self, worker: FlakyWorker) -> None:
        self.worker = worker

    def generation_shards(self, current, round_index):
        return [(i, r, round_index == 4 and i == 3) for i, r in enumerate(split_range(7, 4))]

    def generation_model(self, current):
        return f"weights-{current}"

    def generation_worker(self, progress=False):
        return self.worker


def test_failed_actors_and_shards_are_retried_or_reported_never_dropped(local_ray, tmp_path):
    domain = FakeDomain(FlakyWorker(str(tmp_path)))
    with RayGenerationExecutor(2, retries=1) as executor:
        gen = executor.generate(domain, "r1", 1)
        assert gen.items == [f"weights-r1:{i}" for i in range(7)] and gen.generated == 7  # every shard, in order
        assert (tmp_path / "1").exists() and (tmp_path / "2").exists()  # both failed once, then were retried
        with pytest.raises(ShardsFailedError, match=r"round 4: 1 of 4 .*shard 3: .*shard 3 is broken") as info:
            executor.generate(domain, "r4", 4)
        assert list(info.value.failures) == [3]


def test_cli_evolves_a_round_with_generation_on_two_actors(local_ray, tiny, tmp_path, monkeypatch, capsys):
    from adiff_env.cli.main import main

    ckpt, root = tiny
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    monkeypatch.setenv("ADIFF_HOME", str(tmp_path / "home"))
    ModelRegistry().save("tiny", ckpt.metadata, tensors=ckpt.tensors, config=ckpt.config)
    code = main(["maze", "evolve", ENV, "--from", "planner:tiny", "--rounds", "1", "--samples", "3", "--candidates", "2",
                 "--epsilon", "100", "--finetune-steps", "3", "--eval-episodes", "1", "--quiet", "--json",
                 "--workdir", str(tmp_path / "w"), "--ray", "--ray-actors", "2"])
    assert code == 0
    state = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert state["config"]["shards"] == 2  # --ray-actors 2: two shards, recorded (they set the seeds)
    (record,) = state["rounds"]
    assert record["generated"] == 3 and record["buffer"]["size"] == record["kept"]
    assert record["kept"] + record["extras"]["infeasible"] + record["extras"]["unsuccessful"] == 3  # none dropped
