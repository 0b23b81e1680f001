# Copyright (c) mmautomot contributors. All rights reserved.
"""A checkpoint written by ``tools/train.py`` loads in a fresh process through ``init_model`` (issue 8 §1).

The checkpoint's ``message_hub`` holds MMEngine ``HistoryBuffer`` objects and numpy arrays: a fresh
process that never imported ``mmautomot.engine`` must still load it (the safe allow-list is enabled by
the loader itself), get every tensor bit-exact, and drive one ``Driver`` step with it.
"""

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import torch

from mmautomot.utils import load_checkpoint_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(REPO, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_nuscenes-e2e.py')

LOADER = r"""
import json, sys
import numpy as np
import torch
from mmautomot.apis import Driver, init_model
cfg, ckpt, out = sys.argv[1:4]
model = init_model(cfg, ckpt)
torch.save({k: v.clone() for k, v in model.state_dict().items()}, out + '.pt')
rng = np.random.default_rng(0)
obs = dict(images={'CAM_FRONT': rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)},
           points=(rng.standard_normal((200, 4)) * 8).astype(np.float32), speed=3.0,
           target_point=np.array([20.0, 0.0], np.float32), command=2)
res = Driver(model).step(obs)
json.dump(dict(waypoints=res['waypoints'].tolist(), ue_ran=bool(res['ue_ran']),
               engine_imported='mmautomot.engine' in sys.modules), open(out + '.json', 'w'))
"""


def _env():
    return dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1', MPLBACKEND='Agg')


def _tiny_dataset(root):
    spec = importlib.util.spec_from_file_location('_tiny_e2e', osp.join(REPO, 'tests', 'test_datasets', 'conftest.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_tiny_e2e(str(root), num_samples=4)


def test_train_py_checkpoint_loads_in_fresh_process_and_drives(tmp_path):
    ann = _tiny_dataset(tmp_path / 'data')
    work = str(tmp_path / 'work')
    opts = [
        f'{s}_dataloader.dataset.{k}={v}'
        for s in ('train', 'val', 'test')
        for k, v in (('data_root', str(tmp_path / 'data')), ('ann_file', ann))
    ]
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'train.py'),
            CFG,
            '--work-dir',
            work,
            '--cfg-options',
            *opts,
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=2',
            'param_scheduler=[]',
        ],
        cwd=str(tmp_path),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ckpt = osp.join(work, 'iter_2.pth')
    saved = load_checkpoint_file(ckpt)
    assert 'message_hub' in saved  # the HistoryBuffer-holding part a plain weights_only load refuses

    out = str(tmp_path / 'loaded')
    proc = subprocess.run(
        [sys.executable, '-c', LOADER, CFG, ckpt, out],
        cwd=str(tmp_path),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = torch.load(out + '.pt', weights_only=True)
    expected = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in saved['state_dict'].items()}
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key
    with open(out + '.json') as f:
        res = json.load(f)
    assert not res['engine_imported']
    assert res['ue_ran']
    wp = torch.tensor(res['waypoints'])
    assert wp.shape == (6, 2) and torch.isfinite(wp).all()
