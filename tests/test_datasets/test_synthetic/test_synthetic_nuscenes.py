# Copyright (c) mmautomot contributors. All rights reserved.
import filecmp
import json
import os

import cv2
import numpy as np
import pytest
from nuscenes.nuscenes import NuScenes
from nuscenes.utils import splits
from pyquaternion import Quaternion

from mmautomot.datasets.synthetic import (
    CAM_NAMES,
    RoadGrid,
    SyntheticNuScenesConfig,
    make_synthetic_nuscenes,
    render_camera,
    scene_names,
)

TABLES = (
    'attribute',
    'calibrated_sensor',
    'category',
    'ego_pose',
    'instance',
    'log',
    'map',
    'sample',
    'sample_annotation',
    'sample_data',
    'scene',
    'sensor',
    'visibility',
)


def _mat(rec):
    t = np.eye(4)
    t[:3, :3] = Quaternion(rec['rotation']).rotation_matrix
    t[:3, 3] = rec['translation']
    return t


def test_loads_in_nuscenes_devkit(synth_root):
    assert sorted(f[:-5] for f in os.listdir(synth_root / 'v1.0-mini')) == sorted(TABLES)
    nusc = NuScenes('v1.0-mini', str(synth_root), verbose=False)
    assert len(nusc.scene) == 2 and len(nusc.sample) == 12
    names = [s['name'] for s in nusc.scene]
    assert names[0] in splits.mini_train and names[1] in splits.mini_val
    assert len(nusc.category) == 23 and len(nusc.attribute) == 8 and len(nusc.visibility) == 4
    for sample in nusc.sample:
        assert set(sample['data']) == set(CAM_NAMES) | {'LIDAR_TOP'}
        assert sample['anns'], 'every keyframe has annotations'
    for sd in nusc.sample_data:
        path = synth_root / sd['filename']
        assert path.is_file(), path
        assert sd['filename'].startswith('samples/' if sd['is_key_frame'] else 'sweeps/')
    lidar = nusc.get('sample_data', nusc.sample[0]['data']['LIDAR_TOP'])
    pts = np.fromfile(synth_root / lidar['filename'], np.float32).reshape(-1, 5)
    assert 500 < len(pts) < 5000
    assert set(np.unique(pts[:, 4])).issubset(set(range(32)))
    # LIDAR_TOP is yawed -90 deg as in nuScenes: sensor x = ego right (-y), sensor y = ego forward
    cs = nusc.get('calibrated_sensor', lidar['calibrated_sensor_token'])
    r = Quaternion(cs['rotation']).rotation_matrix
    np.testing.assert_allclose(r[:, 0], [0, -1, 0], atol=1e-6)
    np.testing.assert_allclose(r[:, 1], [1, 0, 0], atol=1e-6)
    # sweeps chain back to before the first keyframe; keyframes every 0.5 s
    assert lidar['prev'] != ''
    t = [s['timestamp'] for s in nusc.sample if s['scene_token'] == nusc.scene[0]['token']]
    assert np.all(np.diff(sorted(t)) == 500_000)
    # the map mask is the drivable area and the ego drives on it
    ego = nusc.get('ego_pose', lidar['ego_pose_token'])
    assert nusc.map[0]['mask'].is_on_mask(ego['translation'][0], ego['translation'][1])


def test_can_bus_files(synth_root):
    name = scene_names('v1.0-mini', 2)[0]
    pose = json.loads((synth_root / 'can_bus' / f'{name}_pose.json').read_text())
    monitor = json.loads((synth_root / 'can_bus' / f'{name}_vehicle_monitor.json').read_text())
    assert set(pose[0]) == {'utime', 'pos', 'orientation', 'vel', 'accel', 'rotation_rate'}
    assert {'vehicle_speed', 'yaw_rate', 'steering', 'utime', 'brake', 'throttle'} <= set(monitor[0])
    ut = np.array([m['utime'] for m in pose])
    assert np.all(np.diff(ut) > 0)
    # velocity agrees with the displacement of the positions
    pos = np.array([m['pos'][:2] for m in pose])
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=1) / (np.diff(ut) / 1e6)
    vel = np.array([m['vel'][0] for m in pose])
    np.testing.assert_allclose(speed, 0.5 * (vel[1:] + vel[:-1]), atol=0.15)
    assert monitor[0]['vehicle_speed'] == pytest.approx(pose[0]['vel'][0] * 3.6)


def test_deterministic(tmp_path):
    cfg = SyntheticNuScenesConfig(num_scenes=1, num_keyframes=2, image_size=(96, 54), azimuth_step=15.0, seed=3)
    make_synthetic_nuscenes(str(tmp_path / 'a'), cfg, verbose=False)
    make_synthetic_nuscenes(str(tmp_path / 'b'), cfg, verbose=False)
    files = []
    for dirpath, _, fnames in os.walk(tmp_path / 'a'):
        files += [os.path.relpath(os.path.join(dirpath, f), tmp_path / 'a') for f in fnames]
    assert len(files) > 30
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / 'a', tmp_path / 'b', files, shallow=False)
    assert not mismatch and not errors
    other = SyntheticNuScenesConfig(num_scenes=1, num_keyframes=2, image_size=(96, 54), azimuth_step=15.0, seed=4)
    make_synthetic_nuscenes(str(tmp_path / 'c'), other, verbose=False)
    poses = [json.loads((tmp_path / d / 'v1.0-mini' / 'ego_pose.json').read_text())[0]['translation'] for d in 'ac']
    assert poses[0] != poses[1]


def test_boxes_project_where_objects_are_drawn(synth_root):
    """Pixels inside projected annotation boxes differ from an empty-world render; others match."""
    nusc = NuScenes('v1.0-mini', str(synth_root), verbose=False)
    grid = RoadGrid()
    checked = 0
    for sample in nusc.sample[:6]:
        for cam in ('CAM_FRONT', 'CAM_BACK'):
            sd = nusc.get('sample_data', sample['data'][cam])
            cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
            cam2global = _mat(nusc.get('ego_pose', sd['ego_pose_token'])) @ _mat(cs)
            k = np.array(cs['camera_intrinsic'])
            img = cv2.imread(str(synth_root / sd['filename'])).astype(np.float32)
            empty = render_camera(grid, [], cam2global, k, (sd['width'], sd['height']))
            diff = np.abs(img - empty).mean(-1)
            mask = np.zeros(diff.shape, np.uint8)
            g2c = np.linalg.inv(cam2global)
            boxes_in_view = []
            for ann_tok in sample['anns']:
                box = nusc.get_box(ann_tok)
                corners = box.corners().T  # (8, 3) global
                cc = corners @ g2c[:3, :3].T + g2c[:3, 3]
                if (cc[:, 2] < 0.5).any():
                    if (cc[:, 2] > 0.5).any():  # partly behind the camera: exclude its area
                        mask[:] = 255
                    continue
                uv = (cc @ k.T)[:, :2] / cc[:, 2:3]
                hull = cv2.convexHull(np.round(uv).astype(np.int32))
                inner = np.zeros_like(mask)
                cv2.fillConvexPoly(inner, hull, 255)
                cv2.fillConvexPoly(mask, hull, 255)
                if inner.sum() / 255 > 40:
                    boxes_in_view.append((inner > 0, np.linalg.norm(cc.mean(0))))
            if mask.all():
                continue
            outside = cv2.dilate(mask, np.ones((7, 7), np.uint8)) == 0
            # far unannotated agents (> 50 m) are tiny; JPEG noise is small
            assert diff[outside].mean() < 4.0, (sd['filename'], diff[outside].mean())
            if boxes_in_view:
                nearest = min(boxes_in_view, key=lambda b: b[1])[0]
                assert diff[nearest].mean() > 25.0, sd['filename']
                checked += 1
    assert checked >= 3
