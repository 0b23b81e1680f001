# Copyright (c) mmautomot contributors. All rights reserved.
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmautomot.apis import init_model

CFG = 'projects/automot/configs/automot_tiny_1xb2-200i_nuscenes-e2e.py'


def _tiny_dataset(root):
    spec = importlib.util.spec_from_file_location('_tiny_e2e', 'tests/test_datasets/conftest.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_tiny_e2e(str(root), num_samples=4)


def test_tiny_config_trains_validates_and_reloads(tmp_path):
    """The tiny config runs through mmengine's Runner (dataset, pipeline, preprocessor, AutoMoT, metric)."""
    ann = _tiny_dataset(tmp_path / 'data')
    cfg = Config.fromfile(CFG)
    for dl in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[dl].dataset.data_root = str(tmp_path / 'data')
        cfg[dl].dataset.ann_file = ann
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 'stp3/L2_avg' in metrics and 'uniad/L2_avg' in metrics
    ckpt = osp.join(cfg.work_dir, 'iter_2.pth')
    model = init_model(CFG, ckpt)
    w = 'mot.ae_layers.1.mlp.up_proj.weight'
    assert torch.equal(model.state_dict()[w], runner.model.state_dict()[w])
