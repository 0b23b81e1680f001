# Copyright (c) mmautomot contributors. All rights reserved.
"""Suite-wide test settings: CPU only, deterministic, every module registered, mmautomot default scope."""

import os

import pytest
import torch

os.environ.setdefault('MPLBACKEND', 'Agg')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
# One intra-op thread per test process: the models are tiny, and several processes (subprocess tools,
# DDP workers) share 2 cores; oversubscribed OpenMP threads made tests 10-40x slower under load.
torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end runs of minutes (deselect with -m "not slow")')


@pytest.fixture(autouse=True, scope='session')
def _register_mmautomot():
    from mmautomot.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
