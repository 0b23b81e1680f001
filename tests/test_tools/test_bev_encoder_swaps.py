# Copyright (c) mmautomot contributors. All rights reserved.
"""Component swaps of the tiny AutoMoT (BEV encoder, refiner) through ``tools/train.py`` and ``tools/test.py``.

Data: the built-in synthetic nuScenes (2 scenes x 8 keyframes, 64 x 36 images) converted by
``tools/create_data.py``. Each swapped config trains 2 iterations with ``tools/train.py`` and is scored by
``tools/test.py`` on the saved checkpoint (in-process ``main()`` calls, as the FlexibleRunner test of
``test_train_test.py`` does, to save two interpreter start-ups per swap); the camera-only run gets a copy of
the data without any LiDAR file.
"""

import json
import math
import os.path as osp
import shutil
import sys

import pytest
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)
from test_train_test import PROTOCOL_KEYS, _load_tool  # noqa: E402

CFG_DIR = osp.join(REPO, 'projects', 'automot', 'configs')


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    from mmautomot.datasets.synthetic import SyntheticNuScenesConfig, make_synthetic_nuscenes

    root = tmp_path_factory.mktemp('swaps') / 'data'
    make_synthetic_nuscenes(
        str(root), SyntheticNuScenesConfig(num_scenes=2, num_keyframes=8, image_size=(64, 36), seed=3), verbose=False
    )
    assert (
        _load_tool('create_data').main(
            ['nuscenes', '--root-path', str(root), '--version', 'v1.0-mini', '--max-sweeps', '1']
        )
        == 0
    )
    return root


def _train_and_test(config, data_root, work, monkeypatch, extra=()):
    opts = [f'{s}_dataloader.dataset.data_root={data_root}' for s in ('train', 'val', 'test')]
    opts += [
        'train_dataloader.batch_size=2',
        'val_dataloader.batch_size=4',
        'default_hooks.logger.interval=1',
        f'experiment_name={osp.basename(config)}',
    ]
    monkeypatch.chdir(work)
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'train.py',
            config,
            '--work-dir',
            str(work / 'train'),
            '--cfg-options',
            *opts,
            *extra,
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=100',
            'param_scheduler=[]',
            'default_hooks.checkpoint.interval=2',
        ],
    )
    _load_tool('train').main()
    ckpt = osp.join(str(work / 'train'), 'iter_2.pth')
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'test.py',
            config,
            ckpt,
            '--work-dir',
            str(work / 'test'),
            '--cfg-options',
            *opts[:-1],
            f'experiment_name=test_{osp.basename(config)}',
        ],
    )
    _load_tool('test').main()
    with open(osp.join(str(work / 'test'), 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert set(metrics) == PROTOCOL_KEYS
    assert all(math.isfinite(v) for v in metrics.values())
    assert all(metrics[f'stp3/L2_{t}'] > 0 for t in ('1s', '2s', '3s'))
    return torch.load(ckpt, weights_only=True)['state_dict']


def test_pointpillars_bev_encoder_trains_and_tests(synthetic_root, tmp_path, monkeypatch):
    """Also starts from an mmdet3d detector's LiDAR weights given by one config key."""
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint

    from mmautomot.testing import tiny_pointpillars_detector

    config = osp.join(CFG_DIR, 'automot_tiny-pointpillars_1xb2-200i_nuscenes-e2e.py')
    enc = Config.fromfile(config).model.bev_encoder
    det = tiny_pointpillars_detector(
        enc.point_cloud_range,
        enc.voxel_size,
        feat_channels=32,
        backbone_channels=enc.backbone.out_channels,
        neck_channels=enc.neck.out_channels,
    )
    det_ckpt = str(tmp_path / 'pointpillars_detector.pth')
    save_checkpoint(dict(meta=dict(epoch=1), state_dict=det.state_dict()), det_ckpt)
    state = _train_and_test(
        config, synthetic_root, tmp_path, monkeypatch, extra=[f'model.bev_encoder.pretrained.checkpoint={det_ckpt}']
    )
    # 2 AdamW steps of lr 1e-3 from the detector's weights (N(0, 1) draws): each weight moved <= ~2e-3
    det_state = det.state_dict()
    names = [n for n, _ in det.named_parameters() if n.split('.')[0] in ('voxel_encoder', 'backbone', 'neck')]
    for name in names:
        torch.testing.assert_close(state[f'bev_encoder.{name}'], det_state[name], atol=3e-3, rtol=0)
    assert sum(not torch.equal(state[f'bev_encoder.{n}'], det_state[n]) for n in names) > len(names) // 2  # trained
    assert state['bev_encoder.voxel_encoder.pfn_layers.0.linear.weight'].shape == (32, 10)
    assert state['bev_encoder.backbone.blocks.2.0.weight'].shape == (64, 64, 3, 3)
    assert state['tokens.bev_proj.weight'].shape[1] == 32
    assert not any(k.startswith('bev_encoder.lidar_encoder') for k in state)


def test_camera_only_automot_trains_and_tests_without_lidar(synthetic_root, tmp_path, monkeypatch):
    no_lidar = tmp_path / 'data'
    shutil.copytree(synthetic_root, no_lidar, ignore=shutil.ignore_patterns('LIDAR_TOP', '*.pcd.bin'))
    assert not list(no_lidar.rglob('*.pcd.bin'))
    state = _train_and_test(
        osp.join(CFG_DIR, 'automot_tiny-camera-only_1xb2-200i_nuscenes-e2e.py'), no_lidar, tmp_path, monkeypatch
    )
    assert state['bev_encoder.bev_queries'].shape == (64, 32)
    assert not any('lidar' in k or 'voxel' in k for k in state)


def test_refiner_swap_automot_plus_trains_and_tests(synthetic_root, tmp_path, monkeypatch):
    """AutoMoT+ (one config line: ``refiner=dict(type='DiTMoARefiner', ...)``) trains its refiner and tests."""
    state = _train_and_test(
        osp.join(CFG_DIR, 'automot-plus_tiny_1xb2-200i_nuscenes-e2e.py'), synthetic_root, tmp_path, monkeypatch
    )
    refiner = [k for k in state if k.startswith('refiner.')]
    assert refiner and any('blocks.0' in k for k in refiner)
