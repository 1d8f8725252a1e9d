"""The shared Ray work queue rejects bad arguments before it touches Ray (its retry and
respawn behaviour runs under real Ray in test_ray_bench.py / test_ray_evolve.py)."""

import pytest

from adiff_env.distributed.ray_queue import run_queue


def test_negative_retries_named():
    with pytest.raises(ValueError, match="retries must be >= 0, got -1"):
        run_queue([object()], 1, lambda actor, i: None, retries=-1, respawn=object)


def test_empty_pool_with_work_is_an_error():
    with pytest.raises(ValueError, match="at least one actor"):
        run_queue([], 3, lambda actor, i: None, retries=0, respawn=object)
