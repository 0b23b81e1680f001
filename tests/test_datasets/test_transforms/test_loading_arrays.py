# Copyright (c) mmautomot contributors. All rights reserved.
"""From-array loaders give what the file loaders give for the same frames (the Driver's pipeline)."""

import numpy as np
import pytest

from mmautomot.datasets.transforms import (
    BuildPlanningTargets,
    LoadFrontCamHistory,
    LoadFrontCamHistoryFromArray,
    LoadMultiViewImages,
    LoadMultiViewImagesFromArray,
    LoadPointsFromArray,
    LoadPointsInEgoFrame,
    array_pipeline,
    load_rgb_image,
)


def _decoded(path, token='t'):
    return load_rgb_image(path, token)[0]


def test_images_equal_the_file_loaders(tiny_e2e_infos):
    info = tiny_e2e_infos[2]
    ref = LoadFrontCamHistory(num_frames=4, img_size=(40, 24))(dict(info))
    frames = [_decoded(f['img_path']) for f in info['cam_front_hist']]
    got = LoadFrontCamHistoryFromArray(num_frames=4, img_size=(40, 24))(dict(img_hist=frames))
    assert len(frames) == 3 and got['img_hist'].shape == (4, 24, 40, 3)  # the earliest frame repeated
    np.testing.assert_array_equal(got['img_hist'], ref['img_hist'])

    ref = LoadMultiViewImages(cam_names=['CAM_BACK', 'CAM_FRONT'], img_size=(32, 18))(dict(info))
    cams = info['images']
    got = LoadMultiViewImagesFromArray(cam_names=['CAM_BACK', 'CAM_FRONT'], img_size=(32, 18))(
        dict(
            images={c: _decoded(v['img_path']) for c, v in cams.items()},
            cam_intrinsics={c: v['cam2img'] for c, v in cams.items()},
            cam2ego={c: v['cam2ego'] for c, v in cams.items()},
        )
    )
    for key in ('imgs', 'cam_intrinsics', 'cam2ego'):
        np.testing.assert_array_equal(got[key], ref[key])
    assert got['cam_names'] == ref['cam_names'] and got['img_shape'] == ref['img_shape']
    assert got['ori_img_shape'] == ref['ori_img_shape']


def test_points_equal_the_file_loader_without_sweeps(tiny_e2e_infos):
    info = tiny_e2e_infos[1]
    ref = LoadPointsInEgoFrame(load_dim=5, use_dim=4)(dict(info))['points']
    raw = np.fromfile(info['lidar_points']['lidar_path'], np.float32).reshape(-1, 5)
    mat = np.asarray(info['lidar_points']['lidar2ego'], np.float64)
    ego = raw.copy()
    ego[:, :3] = raw[:, :3].astype(np.float64) @ mat[:3, :3].T + mat[:3, 3]
    got = LoadPointsFromArray(use_dim=4, time_lag=True)(dict(points=ego))['points']
    assert got.shape == (2, 5) and got.dtype == np.float32
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(ValueError, match=r"'x'.*'points' has 3 columns, the pipeline uses columns \[0, 1, 2, 3\]"):
        LoadPointsFromArray(use_dim=4)(dict(token='x', points=ego[:, :3]))
    with pytest.raises(KeyError, match=r"'points' is missing"):
        LoadPointsFromArray()(dict())


def test_bad_arrays_are_named():
    with pytest.raises(ValueError, match=r'img_hist\[1\] must be an \(H, W, 3\) uint8'):
        LoadFrontCamHistoryFromArray()(dict(img_hist=[np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)]))
    with pytest.raises(KeyError, match=r"cameras \['CAM_LEFT'\] not in images"):
        LoadMultiViewImagesFromArray(cam_names=['CAM_LEFT'])(dict(images={'CAM_FRONT': np.zeros((4, 4, 3), np.uint8)}))


def test_array_pipeline_swaps_only_the_file_loaders():
    pipeline = [
        dict(type='LoadFrontCamHistory', num_frames=2, img_size=(64, 32)),
        dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=(32, 16)),
        dict(type='LoadPointsInEgoFrame', load_dim=5, use_dim=[0, 1, 2, 4], sweeps_num=3),
        dict(type='LoadCarlaPoints', num_feats=4, max_points=10),
        dict(type='BuildPlanningTargets', use_target_point=False),
        dict(type='PackDrivingInputs'),
    ]
    out = array_pipeline(pipeline)
    assert out == [
        dict(type='LoadFrontCamHistoryFromArray', num_frames=2, img_size=(64, 32), interpolation='bilinear'),
        dict(type='LoadMultiViewImagesFromArray', cam_names=['CAM_FRONT'], img_size=(32, 16), interpolation='bilinear'),
        dict(type='LoadPointsFromArray', use_dim=[0, 1, 2, 4], time_lag=True),
        dict(type='LoadPointsFromArray', use_dim=4),
        dict(type='BuildPlanningTargets', use_target_point=False),
        dict(type='PackDrivingInputs'),
    ]
    out[4]['with_gt'] = False
    assert 'with_gt' not in pipeline[4]  # a copy


def test_planning_targets_on_an_observation(tiny_e2e_infos):
    """with_gt=False reads no ground truth; keep_prompt keeps the observation's prompt."""
    obs = dict(ego_status=np.array([3, 0, 0, 0]), target_point=np.array([5.0, 1.0]), command=1, prompt='Go.')
    out = BuildPlanningTargets(with_gt=False, keep_prompt=True, use_target_point=True)(dict(obs))
    assert out['prompt'] == 'Go.' and not any(k.startswith('gt_') for k in out)
    assert out['target_point'].tolist() == [5.0, 1.0] and 'ego_hist_trajs' not in out
    built = BuildPlanningTargets(with_gt=False, system_prompt='S')(dict(obs))
    assert built['prompt'] == 'S\nNavigation command: turn right.\nCurrent speed: 3.0 m/s.'
    with pytest.raises(KeyError, match="planning field 'ego_fut_trajs' missing"):
        BuildPlanningTargets()(dict(obs))
