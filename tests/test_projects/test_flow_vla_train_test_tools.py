# Copyright (c) mmautomot contributors. All rights reserved.
"""Tiny Drive-pi0, DriveMoE and SAMoE-VLA through ``tools/train.py`` / ``tools/test.py`` on synthetic nuScenes.

Short runs (CPU): each model trains 100 iterations on 2 synthetic scenes and is scored by ``tools/test.py``
on the data it was trained on, next to the constant-velocity baseline (``tools/test.py`` without a
checkpoint) on the same samples: a model that learned beats constant velocity there. Generalisation numbers
(held-out scenes, longer runs) are in projects/drivemoe/README.md and projects/samoe/README.md.
"""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmautomot.datasets.synthetic import SyntheticNuScenesConfig, make_synthetic_nuscenes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFGS = {
    'drive-pi0': osp.join(REPO, 'projects', 'drivemoe', 'configs', 'drive-pi0_tiny_1xb4-300i_nuscenes-synthetic.py'),
    'drivemoe': osp.join(REPO, 'projects', 'drivemoe', 'configs', 'drivemoe_tiny_1xb4-300i_nuscenes-synthetic.py'),
    'samoe': osp.join(REPO, 'projects', 'samoe', 'configs', 'samoe_tiny_1xb4-1200i_nuscenes-synthetic.py'),
}
CV_CFG = osp.join(REPO, 'configs', 'baselines', 'constant-velocity_tiny_nuscenes.py')
ITERS = 100


def run_tool(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONPATH=REPO, MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    )
    return proc.stdout + proc.stderr


def data_options(data_root, split='train', with_train=True):
    ann = f'nuscenes_infos_{split}.pkl'
    loaders = ('train', 'val', 'test') if with_train else ('val', 'test')
    return [f'{s}_dataloader.dataset.data_root={data_root}' for s in loaders] + [
        f'val_dataloader.dataset.ann_file={ann}',
        f'test_dataloader.dataset.ann_file={ann}',
    ]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('drivemoe_nus')
    data = str(root / 'data') + os.sep
    make_synthetic_nuscenes(
        data,
        SyntheticNuScenesConfig(num_scenes=2, num_keyframes=12, image_size=(128, 72), azimuth_step=10.0),
        verbose=False,
    )
    run_tool(
        [
            osp.join(REPO, 'tools', 'create_data.py'),
            'nuscenes',
            '--root-path',
            data,
            '--out-dir',
            data,
            '--version',
            'v1.0-mini',
            '--max-sweeps',
            '1',
        ],
        cwd=str(root),
    )
    assert osp.isfile(osp.join(data, 'nuscenes_infos_train.pkl'))
    return root, data


def _test(config, ckpt, root, data, name):
    out = str(root / name)
    args = [osp.join(REPO, 'tools', 'test.py'), config] + ([ckpt] if ckpt else [])
    run_tool(args + ['--work-dir', out, '--cfg-options', *data_options(data, with_train=bool(ckpt))], cwd=str(root))
    with open(osp.join(out, 'test_metrics.json')) as f:
        return json.load(f)


@pytest.mark.slow  # 1.5 to 4 minutes per model on a shared 2-core CPU (100 iterations + 2 test runs each)
@pytest.mark.parametrize('name', ['drive-pi0', 'drivemoe', 'samoe'])
def test_tiny_model_trains_tests_and_beats_constant_velocity(data_root, name):
    root, data = data_root
    work = str(root / f'work_{name}')
    log = run_tool(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CFGS[name],
            '--work-dir',
            work,
            '--cfg-options',
            *data_options(data),
            f'train_cfg.max_iters={ITERS}',
            f'train_cfg.val_interval={ITERS}',
            f'default_hooks.checkpoint.interval={ITERS}',
            f'param_scheduler.1.T_max={ITERS}',
            f'param_scheduler.1.end={ITERS}',
            'default_hooks.logger.interval=10',
        ],
        cwd=str(root),
    )
    assert f'Iter(train) [{ITERS}/{ITERS}]' in log and 'loss_flow' in log
    ckpt = osp.join(work, f'iter_{ITERS}.pth')
    metrics = _test(CFGS[name], ckpt, root, data, f'test_{name}')
    cv = _test(CV_CFG, None, root, data, f'cv_{name}')
    assert set(metrics) == set(cv)
    assert metrics['stp3/L2_avg'] < cv['stp3/L2_avg'], (metrics, cv)
    assert metrics['uniad/L2_avg'] < cv['uniad/L2_avg'], (metrics, cv)
