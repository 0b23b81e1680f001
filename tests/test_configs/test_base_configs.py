# Copyright (c) mmautomot contributors. All rights reserved.
"""The shared runtime and schedule bases load, combine, and build their optimisers/schedulers."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(REPO, 'configs', '_base_')


def test_default_runtime():
    cfg = Config.fromfile(osp.join(BASE, 'default_runtime.py'))
    assert cfg.default_scope == 'mmautomot'
    assert set(cfg.default_hooks) == {
        'timer',
        'logger',
        'param_scheduler',
        'checkpoint',
        'sampler_seed',
        'checkpoint_check',
        'bad_samples',
        'visualization',
    }
    assert cfg.default_hooks.checkpoint_check.partial_load_from is False
    assert cfg.visualizer.type == 'DrivingLocalVisualizer'
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # tools switch to gloo without CUDA
    assert cfg.load_from is None and cfg.resume is False


def test_default_seed_is_fixed_and_overridable(tmp_path):
    """Runs get the runtime's default seed (not a random one) and ``--cfg-options randomness.seed=N``
    still wins."""
    from mmengine.runner import Runner

    from mmautomot.engine import load_tool_config

    cfg_file = tmp_path / 'seed.py'
    cfg_file.write_text(
        f"_base_ = ['{osp.join(BASE, 'default_runtime.py')}']\nmodel = dict(type='mmengine.BaseModel')\n"
    )
    cfg = load_tool_config(str(cfg_file), work_dir=str(tmp_path / 'w'))
    assert cfg.randomness.seed == 0
    runner = Runner(
        model=torch.nn.Linear(2, 2), work_dir=str(tmp_path / 'w'), randomness=cfg.randomness, default_scope=None
    )
    assert runner.seed == 0
    cfg = load_tool_config(str(cfg_file), dict(randomness=dict(seed=7)), work_dir=str(tmp_path / 'w'))
    runner = Runner(
        model=torch.nn.Linear(2, 2),
        work_dir=str(tmp_path / 'w'),
        randomness=cfg.randomness,
        experiment_name='seed7',
        default_scope=None,
    )
    assert runner.seed == 7


@pytest.mark.parametrize(
    'schedule, loop, steps',
    [
        ('adamw_iter_1k.py', 'IterBasedTrainLoop', 1000),
        ('adamw_epoch_12.py', 'EpochBasedTrainLoop', 12),
    ],
)
def test_schedule_combines_with_runtime_and_builds(tmp_path, schedule, loop, steps):
    cfg_file = tmp_path / 'combined.py'
    cfg_file.write_text(
        f"_base_ = ['{osp.join(BASE, 'default_runtime.py')}', '{osp.join(BASE, 'schedules', schedule)}']\n"
    )
    cfg = Config.fromfile(str(cfg_file))  # no duplicate keys between the two bases
    assert cfg.train_cfg.type == loop
    assert cfg.train_cfg.get('max_iters', cfg.train_cfg.get('max_epochs')) == steps
    assert cfg.optim_wrapper.clip_grad.max_norm > 0
    assert cfg.auto_scale_lr.base_batch_size == 8

    model = torch.nn.Linear(3, 2)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base_lr = cfg.optim_wrapper.optimizer.lr
    assert type(optim_wrapper.optimizer).__name__ == 'AdamW'
    schedulers = []
    for sch in cfg.param_scheduler:
        sch = dict(sch)
        if sch.pop('convert_to_iter_based', False):  # what the Runner does, epoch length 1000
            sch = dict(sch, by_epoch=False, T_max=sch['T_max'] * 1000, begin=0, end=sch['end'] * 1000)
        schedulers.append(PARAM_SCHEDULERS.build(sch, default_args=dict(optimizer=optim_wrapper.optimizer)))
    # Warm-up starts below the base lr, then rises.
    lr0 = optim_wrapper.optimizer.param_groups[0]['lr']
    assert lr0 < base_lr
    for _ in range(50):
        optim_wrapper.optimizer.step()
        for sch in schedulers:
            sch.step()
    assert optim_wrapper.optimizer.param_groups[0]['lr'] > lr0
