# Copyright (c) mmautomot contributors. All rights reserved.
"""The tiny released-layout config trains through ``tools/train.py`` and tests through ``tools/test.py``
(subprocesses, CPU), with the released recipe's EMA: checkpoints hold the EMA weights as ``state_dict``."""

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'projects/automot/configs/automot-released_tiny_1xb2-200i_nuscenes-e2e.py')


def _tiny_dataset(root):
    spec = importlib.util.spec_from_file_location('_tiny_e2e', osp.join(REPO, 'tests/test_datasets/conftest.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_tiny_e2e(str(root), num_samples=4)


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'{args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc.stdout + proc.stderr


def test_released_tiny_trains_and_tests_with_ema(tmp_path):
    data = tmp_path / 'data'
    ann = _tiny_dataset(data)
    opts = [
        f'{s}_dataloader.dataset.{k}={v}'
        for s in ('train', 'val', 'test')
        for k, v in (('data_root', str(data)), ('ann_file', ann))
    ]
    # a smaller UE image: the model's UE and the pipeline's ProcessVLMInputs (index 4) must change together
    # (a model-only change is refused by the processing signature)
    opts += ['default_hooks.logger.interval=1', 'model.mot.ue.image_size=(32,64)']
    opts += [f'{s}_dataloader.dataset.pipeline.4.ue.image_size=(32,64)' for s in ('train', 'val', 'test')]
    work = str(tmp_path / 'work')
    log = _run(
        [
            osp.join(REPO, 'tools/train.py'),
            CFG,
            '--work-dir',
            work,
            '--cfg-options',
            *opts,
            'train_cfg.max_iters=3',
            'train_cfg.val_interval=3',
            'default_hooks.checkpoint.interval=3',
            'param_scheduler.0.T_max=3',
            'param_scheduler.0.end=3',
        ],
        cwd=str(tmp_path),
    )
    for key in ('loss_decision', 'loss_path', 'loss_traj', 'loss_velocity'):
        assert key in log, key
    ckpt = torch.load(osp.join(work, 'iter_3.pth'), weights_only=True)
    assert 'EMAHook' in ckpt['meta']['cfg'] and 'ema_state_dict' in ckpt
    w = 'mot.ae_layers.0.self_attn.q_proj.weight'
    ema, raw = ckpt['state_dict'][w], ckpt['ema_state_dict']['module.' + w]
    assert not torch.equal(ema, raw)  # state_dict = the EMA (momentum 1e-4), which lags the trained weights
    test_dir = str(tmp_path / 'test')
    _run(
        [
            osp.join(REPO, 'tools/test.py'),
            CFG,
            osp.join(work, 'iter_3.pth'),
            '--work-dir',
            test_dir,
            '--cfg-options',
            *opts,
        ],
        cwd=str(tmp_path),
    )
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert 'stp3/L2_avg' in metrics and 'uniad/L2_avg' in metrics
