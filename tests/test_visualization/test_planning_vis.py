# Copyright (c) mmautomot contributors. All rights reserved.
"""Planning visualisation: projection maths, the DrivingLocalVisualizer and the hook (files and TensorBoard)."""

import glob
import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from mmautomot.engine.hooks import PlanningVisualizationHook
from mmautomot.registry import HOOKS
from mmautomot.structures import DrivingDataSample
from mmautomot.visualization import (
    DrivingLocalVisualizer,
    draw_front_camera,
    draw_planning_bev,
    figure_to_rgb,
    meta_action_lines,
    project_ego_points,
)

# front camera 1.5 m ahead of the ego origin, 1.5 m up, looking along +x (OpenCV camera axes)
CAM2EGO = np.eye(4)
CAM2EGO[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
CAM2EGO[:3, 3] = [1.5, 0.0, 1.5]
K = np.array([[100.0, 0, 80], [0, 100.0, 45], [0, 0, 1]])


def make_sample(token='tok/1'):
    t = np.arange(1, 7, dtype=np.float32)
    ds = DrivingDataSample(
        metainfo=dict(
            token=token,
            command=2,
            cam_names=['CAM_BACK', 'CAM_FRONT'],
            cam2ego=np.stack([np.eye(4), CAM2EGO]),
            cam_intrinsics=np.stack([K, K]),
        )
    )
    ds.gt_ego_fut_trajs = torch.from_numpy(np.stack([2 * t, 0 * t], 1))
    ds.gt_ego_fut_masks = torch.ones(6)
    ds.pred_ego_fut_trajs = torch.from_numpy(np.stack([2 * t, 0.1 * t], 1))
    ds.gt_agent_boxes = torch.tensor([[10.0, 3.0, 0.8, 4.0, 2.0, 1.5, 0.3], [5.0, -4.0, 0.9, 0.7, 0.7, 1.8, 0.0]])
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


def _visualizer(tmp_path, backends=(dict(type='LocalVisBackend'),)):
    return DrivingLocalVisualizer(
        name=f'vis_{tmp_path.name}',
        vis_backends=[dict(b) for b in backends],
        save_dir=str(tmp_path / 'vis_data'),
        front_min_width=0,
    )


def test_visualizer_front_projection(tmp_path):
    imgs = torch.zeros(2, 3, 90, 160, dtype=torch.uint8)
    front = draw_front_camera(make_sample(), imgs)
    assert front.shape == (90, 160, 3)
    # GT point (8, 0) projects to (80, 45 + 100 * 1.5 / 6.5); it is drawn green
    v = int(round(45 + 150 / 6.5))
    assert front[v, 80, 1] > 150 and front[v, 80, 0] < 100
    # upscaled for readability: 160 px -> 3x (480 px), intrinsics scaled alike, same point
    big = draw_front_camera(make_sample(), imgs, min_width=480)
    assert big.shape == (270, 480, 3)
    v3 = int(round(3 * (45 + 150 / 6.5)))
    assert big[v3, 240, 1] > 150 and big[v3, 240, 0] < 100
    # add_datasample: the BEV plot (800 x 550) with the front view scaled to its height on the right
    vis = _visualizer(tmp_path)
    out = tmp_path / 'tok.png'
    drawn = vis.add_datasample('test/tok', imgs, make_sample(), out_file=str(out))
    bev = figure_to_rgb(draw_planning_bev(make_sample()))
    assert bev.shape == (800, 550, 3)
    assert drawn.shape == (800, 550 + int(round(160 * 800 / 90)), 3)
    assert np.array_equal(drawn[:, :550], bev)
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), drawn)
    # without calibration only the BEV plot
    ds = make_sample('nocal')
    ds.set_metainfo(dict(cam2ego=None))
    assert vis.add_datasample('test/nocal', imgs, ds, out_file=str(tmp_path / 'n.png')).shape == (800, 550, 3)
    with pytest.raises(ValueError, match='data_sample is required'):
        vis.add_datasample('x', imgs, None)


def _runner(vis, it=7):
    return SimpleNamespace(visualizer=vis, iter=it)


def test_hook_writes_up_to_max_samples(tmp_path):
    hook = HOOKS.build(dict(type='PlanningVisualizationHook', max_samples=3))
    assert isinstance(hook, PlanningVisualizationHook)
    batch = dict(inputs=dict(imgs=[torch.full((2, 3, 90, 160), 60, dtype=torch.uint8)] * 2))
    outs = [make_sample('a'), make_sample('b')]
    hook.show_dir = str(tmp_path / 'vis')
    # a test runner without `iter`: reading runner.iter in testing would build the train loop and its dataset
    runner = SimpleNamespace(visualizer=_visualizer(tmp_path))
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, batch, outs)
    hook.after_test_iter(runner, 1, batch, [make_sample('c'), make_sample('d')])
    names = sorted(os.listdir(tmp_path / 'vis'))
    assert names == ['a.png', 'b.png', 'c.png']
    assert all(cv2.imread(str(tmp_path / 'vis' / n)).shape[:2] == (800, 550 + 1422) for n in names)
    with pytest.raises(ValueError, match='max_samples'):
        PlanningVisualizationHook(max_samples=-1)
    with pytest.raises(TypeError, match='DrivingLocalVisualizer'):
        hook.before_val(runner)
        hook.after_val_iter(SimpleNamespace(visualizer=object(), iter=0), 0, batch, outs)


def test_hook_sends_validation_plots_to_tensorboard(tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    vis = _visualizer(tmp_path, backends=(dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')))
    hook = PlanningVisualizationHook(max_samples=2)
    batch = dict(inputs=dict(imgs=[torch.full((2, 3, 90, 160), 60, dtype=torch.uint8)] * 3))
    hook.before_val(_runner(vis, 100))
    hook.after_val_iter(_runner(vis, 100), 0, batch, [make_sample('a'), make_sample('b'), make_sample('c')])
    vis.close()
    events = glob.glob(str(tmp_path / 'vis_data' / '**' / 'events.out.tfevents.*'), recursive=True)
    assert events, os.listdir(tmp_path / 'vis_data')
    acc = EventAccumulator(os.path.dirname(events[0]), size_guidance={'images': 0})
    acc.Reload()
    assert sorted(acc.Tags()['images']) == ['val_a', 'val_b']
    img = acc.Images('val_a')[0]
    assert img.step == 100 and (img.height, img.width) == (800, 550 + 1422)
    # the local backend saved the same images as files
    saved = glob.glob(str(tmp_path / 'vis_data' / '**' / 'vis_image' / '*.png'), recursive=True)
    assert sorted(os.path.basename(p) for p in saved) == ['val_a_100.png', 'val_b_100.png']
