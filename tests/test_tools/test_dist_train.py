# Copyright (c) mmautomot contributors. All rights reserved.
"""2-process DDP smoke run of ``tools/dist_train.sh`` on CPU (gloo), then a resume.

Uses the self-contained toy config of ``tests/test_engine/toy_modules.py`` (loaded through
``custom_imports``) so only the launcher/runner path is exercised.
"""

import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
ENGINE_TESTS = osp.join(REPO, 'tests', 'test_engine')
sys.path.insert(0, ENGINE_TESTS)
import toy_modules  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which('bash') is None, reason='needs bash')


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def dist_train(config, *args, cwd):
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(_free_port()),
        MASTER_ADDR='127.0.0.1',
        PYTHONPATH=ENGINE_TESTS,
        OMP_NUM_THREADS='1',
    )
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), config, '2', *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'dist_train.sh failed ({proc.returncode}):\n{log[-6000:]}'
    return log


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')
def test_dist_train_and_resume_on_cpu(tmp_path):
    work_dir = str(tmp_path / 'work')
    config = toy_modules.write_toy_config(str(tmp_path / 'toy.py'), work_dir, max_iters=4, interval=2)
    log = dist_train(config, cwd=str(tmp_path))
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    assert "dist_cfg=dict(backend='gloo')" in log  # switched from the base's nccl
    assert 'Iter(train) [4/4]' in log
    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 4
    # The model was unwrapped from DDP before saving: no 'module.' prefixes.
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])

    log = dist_train(config, '--resume', '--cfg-options', 'train_cfg.max_iters=6', cwd=str(tmp_path))
    assert 'resumed epoch: 0, iter: 4' in log and 'Iter(train) [6/6]' in log
    resumed = torch.load(osp.join(work_dir, 'iter_6.pth'), weights_only=True)
    assert resumed['meta']['iter'] == 6
    assert {int(s['step']) for s in resumed['optimizer']['state'].values()} == {6}


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')
def test_dist_train_flexible_runner_fsdp_on_cpu(tmp_path):
    """FlexibleRunner + FSDPStrategy through tools/dist_train.sh on the CPU (device_id='cpu', gloo)."""
    work_dir = str(tmp_path / 'work')
    config = toy_modules.write_toy_config(str(tmp_path / 'toy.py'), work_dir, max_iters=2, interval=2)
    log = dist_train(
        config,
        '--cfg-options',
        'runner_type=FlexibleRunner',
        'strategy.type=FSDPStrategy',
        'strategy.state_dict_cfg=full',
        cwd=str(tmp_path),
    )
    assert "model_wrapper=dict(device_id='cpu', type='MMFullyShardedDataParallel')" in log
    assert 'Iter(train) [2/2]' in log
    ckpt = torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)
    # FSDP's full state dict, gathered on rank 0, with the module's own key names
    assert set(ckpt['state_dict']) == {'net.0.weight', 'net.0.bias', 'net.1.weight', 'net.1.bias'}
    assert ckpt['state_dict']['net.0.weight'].shape == (8, 4)
