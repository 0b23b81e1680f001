# Copyright (c) mmautomot contributors. All rights reserved.
"""``on_bad_sample='raise' | 'skip'`` (issue 8 §5): a NaN LiDAR point, an empty LiDAR file and a corrupt
JPEG used to end a whole training / test run."""

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmautomot.engine import apply_bad_sample_policy

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_nuscenes-e2e.py')
BAD = {'tok1': 'has 1 points with NaN', 'tok2': 'is empty', 'tok3': 'is corrupt or not an image'}


def _tiny(root):
    spec = importlib.util.spec_from_file_location('_tiny_e2e', osp.join(REPO, 'tests', 'test_datasets', 'conftest.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_tiny_e2e(str(root), num_samples=4)


@pytest.fixture
def bad_data(tmp_path):
    """4 samples: tok0 good, tok1 one NaN LiDAR point, tok2 empty LiDAR file, tok3 corrupt front JPEG."""
    root = tmp_path / 'data'
    ann = _tiny(root)
    pts = np.fromfile(root / 'samples/LIDAR_TOP/1.pcd.bin', np.float32).reshape(-1, 5)
    pts[0, 1] = np.nan
    pts.tofile(root / 'samples/LIDAR_TOP/1.pcd.bin')
    open(root / 'samples/LIDAR_TOP/2.pcd.bin', 'wb').close()
    (root / 'samples/CAM_FRONT/3.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
    return str(root), ann


def _cfg(root, ann, policy, tmp_path):
    cfg = Config.fromfile(CFG)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.update(data_root=root, ann_file=ann, on_bad_sample=policy)
    cfg.work_dir = str(tmp_path / f'work_{policy}')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3, val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=100)
    apply_bad_sample_policy(cfg)
    return cfg


@pytest.mark.parametrize('token', sorted(BAD))
def test_raise_names_sample_and_file(bad_data, tmp_path, token):
    from mmautomot.registry import DATASETS

    root, ann = bad_data
    cfg = _cfg(root, ann, 'raise', tmp_path)
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    idx = int(token[-1])
    with pytest.raises((ValueError, OSError), match=f"sample '{token}'.*{BAD[token]}"):
        ds[idx]
    assert ds[0]['data_samples'].token == 'tok0'


class _Tokens(Hook):
    def __init__(self):
        self.tokens = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.tokens += [s.token for s in data_batch['data_samples']]


def test_skip_keeps_training_and_logs_every_skipped_sample(bad_data, tmp_path, caplog):
    root, ann = bad_data
    cfg = _cfg(root, ann, 'skip', tmp_path)
    assert cfg.default_hooks.bad_samples.type == 'BadSampleHook'
    runner = Runner.from_cfg(cfg)
    rec = _Tokens()
    runner.register_hook(rec)
    runner.train()
    assert set(rec.tokens) == {'tok0'} and len(rec.tokens) == 6  # 3 iterations x batch 2, bad ones refetched
    log = open(runner.log_dir + f'/{runner.timestamp}.log').read()
    for token, reason in BAD.items():
        assert f"skipping sample '{token}'" in log and reason in log
    count = runner.message_hub.get_info('bad_samples/train_count')
    assert count >= 3 and f'bad training samples skipped ({count} in total so far' in log


def test_test_tool_lists_skipped_samples_in_test_metrics(bad_data, tmp_path):
    """``tools/test.py`` with ``on_bad_sample='skip'`` scores the good samples and lists the skipped ones;
    with the default ``'raise'`` it fails naming the sample and the file."""
    root, ann = bad_data
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    opts = [f'test_dataloader.dataset.{k}={v}' for k, v in (('data_root', root), ('ann_file', ann))]
    work = str(tmp_path / 'test_skip')
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'test.py'),
            CFG,
            '--work-dir',
            work,
            '--cfg-options',
            *opts,
            'test_dataloader.dataset.on_bad_sample=skip',
        ],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(osp.join(work, 'test_metrics.json')) as f:
        metrics = json.load(f)
    skipped = {s['token']: s['error'] for s in metrics['skipped_samples']}
    assert set(skipped) == set(BAD)
    for token, reason in BAD.items():
        assert reason in skipped[token]
    assert np.isfinite(metrics['stp3/L2_1s'])
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'test.py'),
            CFG,
            '--work-dir',
            str(tmp_path / 'test_raise'),
            '--cfg-options',
            *opts,
        ],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0 and "sample 'tok1'" in proc.stderr and '1.pcd.bin' in proc.stderr
