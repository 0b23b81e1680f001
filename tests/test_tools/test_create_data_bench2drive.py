# Copyright (c) mmautomot contributors. All rights reserved.
"""``tools/create_data.py bench2drive`` on synthetic routes of both layouts, then the tiny B2D dataset
config (``configs/_base_/datasets/bench2drive_e2e_tiny.py``) builds and packs a sample in the ego frame."""

import importlib.util
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope

from mmautomot.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(REPO, 'configs', '_base_', 'datasets', 'bench2drive_e2e_tiny.py')


def _load_tool(rel_path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(out, layout, routes, frames, monkeypatch):
    make = _load_tool('tools/bench2drive/make_synthetic_routes.py', 'make_synthetic_routes_tool')
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'make_synthetic_routes.py',
            '--out',
            str(out),
            '--routes',
            str(routes),
            '--layout',
            layout,
            '--frames',
            str(frames),
            '--seed',
            '3',
        ],
    )
    return make.main()


def _build(data_root, split, **overrides):
    cfg = Config.fromfile(TINY_CFG)
    init_default_scope('mmautomot')
    ds_cfg = cfg[f'{split}_dataloader'].dataset
    ds_cfg.data_root = str(data_root)
    ds_cfg.update(overrides)
    return DATASETS.build(ds_cfg)


def test_bench2drive_layout_end_to_end(tmp_path, monkeypatch, capsys):
    root = tmp_path / 'b2d'
    names = _generate(root, 'bench2drive', routes=3, frames=20, monkeypatch=monkeypatch)
    assert len(names) == 3
    create = _load_tool('tools/create_data.py', 'create_data_tool')
    rc = create.main(['bench2drive', '--root-path', str(root), '--out-dir', str(root), '--val-ratio', '0.34'])
    assert rc == 0
    out = capsys.readouterr().out
    assert 'Converting 3 routes under' in out  # then mmengine's progress bar (on the process's stdout)
    assert 'train: 40 samples from 2 routes (bench2drive)' in out
    assert 'val: 20 samples from 1 routes (bench2drive)' in out
    train = load(str(root / 'bench2drive_infos_train.pkl'))
    assert train['metainfo']['dataset'] == 'bench2drive'
    assert train['metainfo']['cam_names'] == sorted(
        ['CAM_FRONT', 'CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
    )
    info0 = train['data_list'][0]
    assert info0['lidar_points']['coord_system'] == 'carla_left_handed'
    assert info0['lidar_points']['num_pts_feats'] == 4 and info0['lidar_sweeps'] == []

    ds = _build(root, 'train')
    assert type(ds).__name__ == 'Bench2DriveE2EDataset' and len(ds) == 40
    packed = ds[0]
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs['img_hist'].shape == (2, 3, 32, 64) and inputs['img_hist'].dtype == torch.uint8
    assert inputs['imgs'].shape == (1, 3, 32, 64) and inputs['imgs'].dtype == torch.uint8
    # first frame of a route: the history repeats it, and its newest entry is the current front view
    assert torch.equal(inputs['img_hist'][0], inputs['img_hist'][1])
    assert torch.equal(inputs['img_hist'][-1], inputs['imgs'][0])
    pts = inputs['points']
    assert pts.dtype == torch.float32 and pts.shape[1] == 4 and 1500 < len(pts) <= 4096
    # ego frame (x forward, y LEFT): the synthetic car 12 m ahead, 3.5 m to the left carries ~100 points,
    # its mirror image (CARLA's left-handed y not flipped) none
    on_car = (abs(pts[:, 0] - 12) < 2.3) & (abs(pts[:, 1] - 3.5) < 1.0)
    mirrored = (abs(pts[:, 0] - 12) < 2.3) & (abs(pts[:, 1] + 3.5) < 1.0) & (pts[:, 2] > 0.05)
    assert on_car.sum() >= 90 and mirrored.sum() == 0
    assert inputs['ego_status'].shape == (4,) and inputs['ego_status'][0] == pytest.approx(5.0, abs=1e-3)
    assert inputs['ego_hist_trajs'].shape == (4, 2)
    # 2 s routes turn left after 1 s: CARLA LEFT (1) -> our index 0 already at the first frame, and the
    # target point 2 s ahead lies on the arc to the left (+y)
    assert inputs['command'].dtype == torch.int64 and int(inputs['command']) == 0  # turn_left
    assert inputs['target_point'][0] == pytest.approx(9.96, abs=0.01) and 0.3 < inputs['target_point'][1] < 1.0
    # straight at 5 m/s for 1 s: waypoints every 0.5 s are 2.5 m apart along +x, then bend left; a 2 s
    # route leaves 3 valid future steps at its first frame
    assert sample.gt_ego_fut_trajs.shape == (6, 2)
    torch.testing.assert_close(sample.gt_ego_fut_trajs[:2], torch.tensor([[2.5, 0.0], [5.0, 0.0]]), atol=1e-3, rtol=0)
    assert sample.gt_ego_fut_trajs[2, 1] > 0.05
    assert sample.gt_ego_fut_masks.tolist() == [1, 1, 1, 0, 0, 0]
    assert sample.gt_ego_path.shape == (20, 2) and sample.gt_meta_actions.shape == (3, 2)
    assert sample.gt_agent_boxes.shape == (3, 7) and sample.gt_agent_fut_trajs.shape == (3, 6, 2)
    assert sample.metainfo['dataset'] == 'bench2drive' and sample.metainfo['cam_names'] == ['CAM_FRONT']
    assert 'Navigation command: turn left.' in sample.metainfo['prompt']

    val = _build(root, 'val')
    assert len(val) == 20 and val[19]['inputs']['img_hist'].shape == (2, 3, 32, 64)
    # the last frame of a route has no future left: masks are all zero
    assert val[19]['data_samples'].gt_ego_fut_masks.sum() == 0


def test_pdm_lite_layout_end_to_end(tmp_path, monkeypatch, capsys):
    root = tmp_path / 'pdm'
    names = _generate(root, 'pdm_lite', routes=2, frames=12, monkeypatch=monkeypatch)
    create = _load_tool('tools/create_data.py', 'create_data_tool')
    rc = create.main(
        [
            'bench2drive',
            '--root-path',
            str(root),
            '--out-dir',
            str(tmp_path / 'infos'),
            '--layout',
            'pdm_lite',
            '--val-routes',
            names[0],
            '--extra-tag',
            'pdm',
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert 'train: 12 samples from 1 routes (pdm_lite)' in out and 'val: 12 samples' in out
    val = load(str(tmp_path / 'infos' / 'pdm_infos_val.pkl'))
    assert {i['scene_token'] for i in val['data_list']} == {names[0]}
    # 4 Hz data: the UE history steps 0.5 s = 2 frames back
    hist = val['data_list'][5]['cam_front_hist']
    assert [h['timestamp'] for h in hist] == pytest.approx([0.0, 0.25, 0.75, 1.25])

    ds = _build(root, 'train', type='PDMLiteE2EDataset', ann_file=str(tmp_path / 'infos' / 'pdm_infos_train.pkl'))
    assert type(ds).__name__ == 'PDMLiteE2EDataset' and len(ds) == 12
    packed = ds[0]
    assert packed['inputs']['imgs'].shape == (1, 3, 32, 64)
    pts = packed['inputs']['points']
    on_car = (abs(pts[:, 0] - 12) < 2.3) & (abs(pts[:, 1] - 3.5) < 1.0)
    assert on_car.sum() >= 90
    # 12 frames at 4 Hz = 3 s: straight for 1.5 s, then turning left; 5 valid future steps
    fut = packed['data_samples'].gt_ego_fut_trajs.numpy()
    np.testing.assert_allclose(fut[:3], np.stack([np.arange(1, 4) * 2.5, np.zeros(3)], 1), atol=1e-3)
    assert fut[4, 1] > 0.1
    assert packed['data_samples'].gt_ego_fut_masks.tolist() == [1, 1, 1, 1, 1, 0]


def test_cli_errors(tmp_path, capsys):
    create = _load_tool('tools/create_data.py', 'create_data_tool')
    assert create.main(['bench2drive', '--root-path', str(tmp_path)]) == 1
    assert 'no Bench2Drive (anno/) or PDM-Lite (measurements/) route folders' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        create.parse_args(['bench2drive', '--root-path', 'x', '--layout', 'carla'])
    args = create.parse_args(['bench2drive', '--root-path', 'x'])
    assert (args.layout, args.val_ratio, args.extra_tag, args.out_dir) == ('auto', 0.1, 'bench2drive', None)
