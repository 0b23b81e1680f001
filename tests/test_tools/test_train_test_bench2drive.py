# Copyright (c) mmautomot contributors. All rights reserved.
"""``tools/train.py`` / ``tools/test.py`` end to end on synthetic Bench2Drive routes (subprocesses, CPU).

Generates 3 short routes in the Bench2Drive layout, converts them with ``tools/create_data.py
bench2drive`` and runs ``configs/baselines/ego-mlp_tiny_1xb8-200i_bench2drive.py`` (Bench2DriveE2EDataset +
EgoMLPPlanner with the 6-way command + open-loop PlanningMetric) for a few iterations, overriding
``data_root`` with ``--cfg-options``.
"""

import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmautomot.datasets.bench2drive.synthetic import make_synthetic_routes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'baselines', 'ego-mlp_tiny_1xb8-200i_bench2drive.py')
PROTOCOL_KEYS = {f'{p}/{m}_{t}' for p in ('stp3', 'uniad') for m in ('L2', 'CR') for t in ('1s', '2s', '3s', 'avg')}


def run_tool(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO, MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    )
    return proc.stdout + proc.stderr


def data_options(data_root):
    return [f'{split}_dataloader.dataset.data_root={data_root}' for split in ('train', 'val', 'test')] + [
        'default_hooks.logger.interval=1'
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('b2d_train_test')
    data_root = str(root / 'data') + os.sep
    # 4.5 s routes: their first 15 frames have a full 3 s future (the ST-P3 protocol needs it)
    make_synthetic_routes(data_root, num_routes=3, seed=5, num_frames=45)
    spec = importlib.util.spec_from_file_location('create_data_tool', osp.join(REPO, 'tools', 'create_data.py'))
    create = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(create)
    assert create.main(['bench2drive', '--root-path', data_root, '--out-dir', data_root, '--val-ratio', '0.34']) == 0
    work_dir = str(root / 'work')
    log = run_tool(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CONFIG,
            '--work-dir',
            work_dir,
            '--cfg-options',
            *data_options(data_root),
            'train_cfg.max_iters=4',
            'train_cfg.val_interval=4',
            'default_hooks.checkpoint.interval=2',
        ],
        cwd=str(root),
    )
    return root, data_root, work_dir, log


def test_train_on_bench2drive(trained):
    _, _, work_dir, log = trained
    assert 'Iter(train) [4/4]' in log and 'Iter(val)' in log
    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert 'Bench2DriveE2EDataset' in ckpt['meta']['cfg'] and 'EgoMLPPlanner' in ckpt['meta']['cfg']
    # the command embedding / one-hot covers all 6 CARLA commands
    assert 'num_commands=6' in ckpt['meta']['cfg'].replace(' ', '')
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))


def test_test_tool_on_bench2drive(trained):
    root, data_root, work_dir, _ = trained
    test_dir = str(root / 'test')
    log = run_tool(
        [
            osp.join(REPO, 'tools', 'test.py'),
            CONFIG,
            osp.join(work_dir, 'iter_4.pth'),
            '--work-dir',
            test_dir,
            '--cfg-options',
            *data_options(data_root),
        ],
        cwd=str(root),
    )
    assert 'Iter(test) [6/6]' in log  # 1 val route of 45 frames, batch 8
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert set(metrics) == PROTOCOL_KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    for protocol in ('stp3', 'uniad'):
        l2 = [metrics[f'{protocol}/L2_{t}'] for t in ('1s', '2s', '3s')]
        assert all(v > 0 for v in l2)
        assert metrics[f'{protocol}/L2_avg'] == pytest.approx(sum(l2) / 3, rel=1e-5)
