# Copyright (c) mmautomot contributors. All rights reserved.
"""The baseline configs run end to end with MMEngine's Runner on a planning-only info pkl."""

import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmautomot.structures import INFO_VERSION, PLANNING_LAYOUT

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs', 'baselines')


def _write_planning_pkl(root, n=6):
    """Infos with only the planning fields: ego-only pipelines read no sensor files."""
    data_list = []
    for i in range(n):
        v = 2.0 + i
        t = np.arange(1, 7, dtype=np.float32) * 0.5
        data_list.append(
            dict(
                sample_idx=i,
                token=f'tok{i}',
                scene_token='s0',
                timestamp=0.5 * i,
                ego_fut_trajs=np.stack([v * t, np.zeros(6, np.float32)], 1),
                ego_fut_masks=np.ones(6, np.float32),
                # the metric's LiDAR reference point: a mount 0.94 m ahead (driving straight)
                ego_fut_lidar_trajs=np.stack([v * t + 0.94, np.zeros(6, np.float32)], 1),
                lidar_points=dict(
                    lidar_path=f'samples/LIDAR_TOP/tok{i}.bin',
                    lidar2ego=np.array([[0, 1, 0, 0.94], [-1, 0, 0, 0], [0, 0, 1, 1.84], [0, 0, 0, 1]], np.float32),
                ),
                ego_hist_trajs=np.stack([-v * np.arange(4, 0, -1, dtype=np.float32) * 0.5, np.zeros(4, np.float32)], 1),
                ego_status=np.array([v, 0, 0, 0], np.float32),
                can_bus=True,
                command=2,
                target_point=np.array([3 * v, 0], np.float32),
                meta_actions=np.full((3, 2), 2, np.int64),
                ego_path=np.zeros((20, 2), np.float32),
                ego_path_masks=np.ones(20, np.float32),
                plan_agent_boxes=np.array([[0, 20, 0.8, 4, 2, 1.6, 0]], np.float32),
                plan_agent_labels=np.zeros(1, np.int64),
                plan_agent_fut_trajs=np.tile(np.array([0, 20], np.float32), (1, 6, 1)),
                plan_agent_fut_yaws=np.zeros((1, 6), np.float32),
                plan_agent_fut_masks=np.ones((1, 6), np.float32),
            )
        )
    for split in ('train', 'val'):
        with open(osp.join(root, f'nuscenes_infos_{split}.pkl'), 'wb') as f:
            pickle.dump(
                dict(
                    metainfo=dict(dataset='nuscenes', info_version=INFO_VERSION, planning=PLANNING_LAYOUT),
                    data_list=data_list,
                ),
                f,
            )


def _cfg(name, tmp_path):
    _write_planning_pkl(str(tmp_path))
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.visualizer.name = f'vis_{tmp_path.name}'  # one Visualizer instance per test
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:
            cfg[key].dataset.data_root = str(tmp_path) + '/'
            cfg[key].num_workers = 0
            cfg[key].persistent_workers = False
    return cfg


@pytest.mark.parametrize('name', ['constant-velocity_nuscenes.py', 'constant-velocity_tiny_nuscenes.py'])
def test_constant_velocity_config_tests_directly(name, tmp_path):
    runner = Runner.from_cfg(_cfg(name, tmp_path))
    metrics = runner.test()
    # straight constant-speed futures: constant velocity is exact
    l2 = {k: v for k, v in metrics.items() if 'l2' in k.lower()}
    assert l2 and all(abs(v) < 1e-4 for v in l2.values()), metrics


def test_ego_mlp_tiny_config_trains(tmp_path):
    cfg = _cfg('ego-mlp_tiny_1xb8-200i_nuscenes.py', tmp_path)
    cfg.train_cfg.max_iters = 4
    cfg.train_cfg.val_interval = 4
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_4.pth'))


def test_full_configs_parse():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'ego-mlp_1xb32-12e_nuscenes.py'))
    assert cfg.default_scope == 'mmautomot'
    assert cfg.model.type == 'EgoMLPPlanner'
    assert cfg.train_dataloader.dataset.ann_file == 'nuscenes_infos_train.pkl'
    assert cfg.val_evaluator.type == 'PlanningMetric'
