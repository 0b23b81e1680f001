# Copyright (c) mmautomot contributors. All rights reserved.
"""Resume is exact with the AutoMoT+ refiner: 2N iterations straight == N + resume + N (issue 8 §7).

The refiner's training noise used to come from the global random state, which checkpoints do not hold
(MMEngine re-seeds it on resume), so ``loss_refine`` drifted after a resume.
"""

import importlib.util
import os.path as osp

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

CFG = 'projects/automot/configs/automot-plus_tiny_1xb2-200i_nuscenes-e2e.py'


class _RecordLosses(Hook):
    def __init__(self):
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        # runner.iter is incremented after this hook: key = the 1-based iteration
        self.losses[runner.iter + 1] = {k: float(v) for k, v in outputs.items() if k.startswith('loss')}


def _tiny_dataset(root):
    spec = importlib.util.spec_from_file_location('_tiny_e2e', 'tests/test_datasets/conftest.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_tiny_e2e(str(root), num_samples=4)


def _run(tmp_path, name, ann, max_iters, resume_from=None):
    cfg = Config.fromfile(CFG)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.data_root = str(tmp_path / 'data')
        cfg[dl].dataset.ann_file = ann
    cfg.work_dir = str(tmp_path / name)
    cfg.experiment_name = name
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    if resume_from is not None:
        cfg.load_from, cfg.resume = resume_from, True
    runner = Runner.from_cfg(cfg)
    rec = _RecordLosses()
    runner.register_hook(rec)
    runner.train()
    return rec.losses


def test_resume_with_refiner_is_exact(tmp_path):
    ann = _tiny_dataset(tmp_path / 'data')
    straight = _run(tmp_path, 'straight', ann, 4)
    first = _run(tmp_path, 'first', ann, 2)
    resumed = _run(tmp_path, 'resumed', ann, 4, resume_from=osp.join(str(tmp_path / 'first'), 'iter_2.pth'))
    assert sorted(straight) == [1, 2, 3, 4] and sorted(first) == [1, 2] and sorted(resumed) == [3, 4]
    for it in (1, 2):
        assert first[it] == straight[it]
    for it in (3, 4):
        assert resumed[it]['loss_refine'] > 0
        assert resumed[it] == straight[it], (it, resumed[it], straight[it])
