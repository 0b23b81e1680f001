# Copyright (c) mmautomot contributors. All rights reserved.
"""``prepare_dist_env``: CPU (gloo) adaptation of a config's distributed settings."""

import socket

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from mmautomot.engine import dist_env, prepare_dist_env


def _cfg(**kwargs):
    return Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)), **kwargs))


def test_no_launcher_changes_nothing():
    cfg = _cfg()
    assert prepare_dist_env(cfg, 'none') is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path only')
def test_slurm_without_cuda_is_refused():
    with pytest.raises(RuntimeError, match="launcher='slurm' needs CUDA"):
        prepare_dist_env(_cfg(), 'slurm')


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path only')
def test_unsupported_wrapper_is_refused(monkeypatch):
    monkeypatch.setattr(dist_env.dist, 'is_initialized', lambda: True)
    cfg = _cfg(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel'))
    with pytest.raises(RuntimeError, match='MMFullyShardedDataParallel'):
        prepare_dist_env(cfg, 'pytorch')


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path only')
def test_pytorch_launcher_on_cpu(monkeypatch):
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        monkeypatch.setenv('MASTER_PORT', str(sock.getsockname()[1]))
    cfg = _cfg(model_wrapper_cfg=dict(type='MMDistributedDataParallel', find_unused_parameters=True))
    assert not dist.is_initialized()
    try:
        assert prepare_dist_env(cfg, 'pytorch') is True
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert dist.get_world_size() == 1
        # Already initialised: a second call only adapts the config.
        assert prepare_dist_env(_cfg(), 'pytorch') is True
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None, find_unused_parameters=True, broadcast_buffers=False
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path only')
def test_default_wrapper_is_added(monkeypatch):
    monkeypatch.setattr(dist_env.dist, 'is_initialized', lambda: True)
    cfg = _cfg(find_unused_parameters=True)
    prepare_dist_env(cfg, 'pytorch')
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False, find_unused_parameters=True
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path only')
def test_flexible_runner_strategies_on_cpu(monkeypatch):
    monkeypatch.setattr(dist_env.dist, 'is_initialized', lambda: True)
    cfg = _cfg(
        runner_type='FlexibleRunner', strategy=dict(type='FSDPStrategy', model_wrapper=dict(use_orig_params=True))
    )
    assert prepare_dist_env(cfg, 'pytorch') is True
    assert cfg.strategy.model_wrapper == dict(use_orig_params=True, type='MMFullyShardedDataParallel', device_id='cpu')
    assert 'model_wrapper_cfg' not in cfg and cfg.env_cfg.dist_cfg.backend == 'gloo'
    cfg = _cfg(runner_type='FlexibleRunner')  # no strategy: the runner's distributed default, DDP
    prepare_dist_env(cfg, 'pytorch')
    assert cfg.strategy == dict(
        type='DDPStrategy',
        model_wrapper=dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False, find_unused_parameters=False
        ),
    )
    with pytest.raises(RuntimeError, match="strategy type 'DeepSpeedStrategy' is not supported on CPU"):
        prepare_dist_env(_cfg(runner_type='FlexibleRunner', strategy=dict(type='DeepSpeedStrategy')), 'pytorch')
