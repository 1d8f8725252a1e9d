"""Engine tests run torch on one thread: the models are tiny, and on a shared 2-core machine
two OpenMP threads per process oversubscribe the cores (measured 16x slower per step)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
