"""``adiff bench --ray`` on a local Ray cluster (``ray.init(num_cpus=2)``): the same rows as the
local bench on the same seeds; a crashed actor is restarted and its cell retried; a cell that
keeps failing is reported with the finished rows kept, never dropped silently."""

from __future__ import annotations

import csv
import functools
import os
import sys
from pathlib import Path

import pytest

from adiff_env.bench.runner import BenchConfig, run_bench

# Workers run on this venv's python; Ray's uv hook would start each one through `uv run`
# (under `uv run pytest`), which times out on a busy machine. Read when ray is imported.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

ray = pytest.importorskip("ray", reason="the optional extra adiff-env[ray] is not installed (uv sync --extra ray)")
from adiff_env.distributed.ray_bench import CellsFailedError, CellTask, run_cells  # noqa: E402

pytestmark = pytest.mark.slow
TIMING = {"wall_s", "steps_per_s", "episodes_per_s", "plan_ms_median"}


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
    # the test's cell functions travel by value (workers cannot import this test module)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_ray_bench_gives_the_local_rows(local_ray, tmp_path):
    common = dict(suite="maze", agents=("random:0", "expert"), episodes=2, seeds=2, envs=("UMaze",), vector=2,
                  vector_mode="sync", progress=False)
    run_bench(BenchConfig(out=tmp_path / "local", **common))
    from adiff_env.cli.main import main

    assert main(["bench", "maze", "--agents", "random:0,expert", "--episodes", "2", "--seeds", "2", "--envs", "UMaze",
                 "--vector", "2", "--vector-mode", "sync", "--out", str(tmp_path / "ray"), "--quiet", "--ray",
                 "--ray-actors", "2"]) == 0
    local, remote = _rows(tmp_path / "local" / "results.csv"), _rows(tmp_path / "ray" / "results.csv")
    assert len(local) == 4
    assert [(r["agent"], r["seed"]) for r in remote] == [(r["agent"], r["seed"]) for r in local]
    for a, b in zip(local, remote):
        assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert float(remote[2]["success_rate"]) == 1.0  # the expert reaches the goal: real episodes ran
    assert (tmp_path / "ray" / "table.md").exists()


def _fake_row(task: CellTask) -> dict:
    return {"agent": task.label, "env": task.env_id, "seed": task.seed_index, "episodes": task.episodes, "pid": os.getpid()}


def _crash_once(marker_dir: str, task: CellTask) -> dict:
    """Kills its actor process the first time it sees a cell; returns the row on the retry."""
    marker = Path(marker_dir) / f"{task.seed_index}"
    if not marker.exists():
        marker.write_text("crashed")
        os._exit(1)
    return _fake_row(task)


def _fails_on_seed(bad: int, task: CellTask) -> dict:
    if task.seed_index == bad:
        raise RuntimeError(f"cell seed {bad} is broken")
    return _fake_row(task)


def _tasks(n: int) -> list[CellTask]:
    return [CellTask("fake", "random", "adiff/PointMaze-UMaze-v0", s, episodes=3) for s in range(n)]


def test_a_crashed_actor_is_restarted_and_its_cell_retried(local_ray, tmp_path):
    (tmp_path / "1").write_text("seen")  # cell 1 runs normally; cell 0 kills its actor the first time
    rows = run_cells(_tasks(2), actors=1, cell_fn=functools.partial(_crash_once, str(tmp_path)))
    assert [r["seed"] for r in rows] == [0, 1]  # every cell, in order, none dropped
    assert (tmp_path / "0").read_text() == "crashed"  # cell 0's first attempt died with its actor


def test_a_failing_cell_is_reported_and_the_rest_kept(local_ray):
    seen = []
    with pytest.raises(CellsFailedError, match=r"fake \| adiff/PointMaze-UMaze-v0 \| seed 1: .*cell seed 1 is broken") as info:
        run_cells(_tasks(3), actors=2, cell_fn=functools.partial(_fails_on_seed, 1), retries=1,
                  on_row=lambda task, row: seen.append(task.seed_index))
    assert [r["seed"] for r in info.value.rows] == [0, 2] and sorted(seen) == [0, 2]
    assert list(info.value.failures) == [("fake", "adiff/PointMaze-UMaze-v0", 1)]
