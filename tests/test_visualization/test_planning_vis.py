# Copyright (c) mmautomot contributors. All rights reserved.
"""Planning visualisation: projection maths, PNGs written by the functions and the hook."""
import os

import cv2
import numpy as np
import pytest
import torch

from mmautomot.registry import HOOKS
from mmautomot.structures import DrivingDataSample
from mmautomot.engine.hooks import PlanningVisualizationHook
from mmautomot.visualization import (draw_front_camera, draw_planning_bev,
                                     meta_action_lines, project_ego_points,
                                     save_planning_visualization)

# front camera 1.5 m ahead of the ego origin, 1.5 m up, looking along +x (OpenCV camera axes)
CAM2EGO = np.eye(4)
CAM2EGO[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
CAM2EGO[:3, 3] = [1.5, 0.0, 1.5]
K = np.array([[100.0, 0, 80], [0, 100.0, 45], [0, 0, 1]])


def make_sample(token='tok/1'):
    t = np.arange(1, 7, dtype=np.float32)
    ds = DrivingDataSample(metainfo=dict(token=token, command=2, cam_names=['CAM_BACK', 'CAM_FRONT'],
                                         cam2ego=np.stack([np.eye(4), CAM2EGO]),
                                         cam_intrinsics=np.stack([K, K])))
    ds.gt_ego_fut_trajs = torch.from_numpy(np.stack([2 * t, 0 * t], 1))
    ds.gt_ego_fut_masks = torch.ones(6)
    ds.pred_ego_fut_trajs = torch.from_numpy(np.stack([2 * t, 0.1 * t], 1))
    ds.gt_agent_boxes = torch.tensor([[10.0, 3.0, 0.8, 4.0, 2.0, 1.5, 0.3],
                                      [5.0, -4.0, 0.9, 0.7, 0.7, 1.8, 0.0]])
    ds.gt_agent_labels = torch.tensor([0, 8])
    ds.gt_meta_actions = torch.tensor([[2, 2], [3, 2], [2, 1]])
    ds.pred_meta_actions = torch.tensor([[2, 2], [2, 2], [-1, -1]])
    return ds


def test_project_ego_points():
    uv, valid = project_ego_points(np.array([[11.5, 0.0], [11.5, 1.0], [-5.0, 0.0]]), CAM2EGO, K)
    assert valid.tolist() == [True, True, False]
    np.testing.assert_allclose(uv[0], [80.0, 60.0])
    np.testing.assert_allclose(uv[1], [70.0, 60.0])  # +y (left) projects to the left


def test_meta_action_text():
    lines = meta_action_lines(make_sample())
    assert lines[0] == 'pred: 1s [Straight, Keep], 2s [Straight, Keep], 3s [?, ?]'
    assert lines[1] == 'GT: 1s [Straight, Keep], 2s [Slight right, Keep], 3s [Straight, Decelerate]'


def test_bev_png(tmp_path):
    out = tmp_path / 'bev.png'
    fig = draw_planning_bev(make_sample().to_dict(), str(out))
    assert out.stat().st_size > 5000
    img = cv2.imread(str(out))
    assert img.shape == (800, 550, 3) and img.std() > 5
    ax = fig.axes[0]
    assert {line.get_label() for line in ax.lines} == {'GT', 'pred'}
    assert len(ax.patches) == 3  # two agents + ego


def test_save_and_front_projection(tmp_path):
    imgs = torch.zeros(2, 3, 90, 160, dtype=torch.uint8)
    files = save_planning_visualization(make_sample(), str(tmp_path), imgs)
    assert [os.path.basename(f) for f in files] == ['tok_1_bev.png', 'tok_1_front.png']
    front = cv2.cvtColor(cv2.imread(files[1]), cv2.COLOR_BGR2RGB)
    assert front.shape == (90, 160, 3)
    # GT point (8, 0) projects to (80, 45 + 100 * 1.5 / 6.5); it is drawn green
    v = int(round(45 + 150 / 6.5))
    assert front[v, 80, 1] > 150 and front[v, 80, 0] < 100
    # upscaled for readability: 160 px -> 3x (480 px), intrinsics scaled alike, same point
    big = draw_front_camera(make_sample(), imgs, min_width=480)
    assert big.shape == (270, 480, 3)
    v3 = int(round(3 * (45 + 150 / 6.5)))
    assert big[v3, 240, 1] > 150 and big[v3, 240, 0] < 100
    # without calibration only the BEV is written
    ds = make_sample('nocal')
    ds.set_metainfo(dict(cam2ego=None))
    assert len(save_planning_visualization(ds, str(tmp_path), imgs)) == 1


def test_hook_writes_up_to_max_samples(tmp_path):
    hook = HOOKS.build(dict(type='PlanningVisualizationHook', max_samples=3))
    assert isinstance(hook, PlanningVisualizationHook)
    batch = dict(inputs=dict(imgs=[torch.full((2, 3, 90, 160), 60, dtype=torch.uint8)] * 2))
    outs = [make_sample('a'), make_sample('b')]
    hook.after_test_iter(None, 0, batch, outs)
    assert not list(tmp_path.iterdir())  # disabled until show_dir is set
    hook.show_dir = str(tmp_path / 'vis')
    hook.before_test(None)
    hook.after_test_iter(None, 0, batch, outs)
    hook.after_test_iter(None, 1, batch, [make_sample('c'), make_sample('d')])
    names = sorted(os.listdir(tmp_path / 'vis'))
    assert names == ['a_bev.png', 'a_front.png', 'b_bev.png', 'b_front.png', 'c_bev.png',
                     'c_front.png']
    assert all((tmp_path / 'vis' / n).stat().st_size > 500 for n in names)
    with pytest.raises(ValueError, match='max_samples'):
        PlanningVisualizationHook(max_samples=-1)
