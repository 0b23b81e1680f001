# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin-wait blow-ups on a busy 2-core machine
    (restored after each test so other test directories keep their setting)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
