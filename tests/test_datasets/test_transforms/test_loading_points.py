# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest

from mmautomot.datasets.transforms import LoadPointsInEgoFrame


def test_keyframe_into_ego_frame(tiny_e2e_infos):
    out = LoadPointsInEgoFrame(load_dim=5, use_dim=4, time_lag=False)(tiny_e2e_infos[0])
    pts = out['points']
    assert pts.dtype == np.float32 and pts.shape == (2, 4)
    # lidar (0, 10, 0): 10 m ahead of the sensor (lidar y = forward) -> ego x = 10 + 0.943 offset
    np.testing.assert_allclose(pts[0], [10.943, 0.0, 1.84, 0.0], atol=1e-5)
    # lidar (1, 0, 0): 1 m to the right -> ego y = -1
    np.testing.assert_allclose(pts[1], [0.943, -1.0, 1.84, 0.0], atol=1e-5)
    assert out['lidar2ego'].shape == (4, 4)


def test_sweeps_use_their_own_poses(tiny_e2e_infos):
    out = LoadPointsInEgoFrame(use_dim=[0, 1, 2, 3], sweeps_num=5)(tiny_e2e_infos[2])
    pts = out['points']
    assert pts.shape == (6, 5)  # keyframe + 2 available sweeps, 2 points each, + time lag
    # keyframe 2, sweep 1 (ego 5 m behind), sweep 0 (10 m behind): same lidar point (0, 10, 0)
    np.testing.assert_allclose(pts[0::2, 0], [10.943, 5.943, 0.943], atol=1e-5)
    np.testing.assert_allclose(pts[0::2, 3], [2, 1, 0])  # intensity column = frame index
    np.testing.assert_allclose(pts[0::2, 4], [0.0, 0.5, 1.0])  # time lag in seconds
    only_one = LoadPointsInEgoFrame(sweeps_num=1)(dict(tiny_e2e_infos[2]))['points']
    assert only_one.shape == (4, 5)


def _with_cloud(info, path, data):
    data.tofile(path) if isinstance(data, np.ndarray) else open(path, 'wb').write(data)
    return dict(info, lidar_points=dict(info['lidar_points'], lidar_path=str(path)))


def test_bad_clouds_name_token_and_file(tiny_e2e_infos, tmp_path):
    info = tiny_e2e_infos[0]
    nan = np.array([[0, 1, 2, 3, 4], [np.nan, 0, 0, 0, 0]], np.float32)
    with pytest.raises(ValueError, match=r"'tok0'.*nan\.bin.*1 points with NaN"):
        LoadPointsInEgoFrame()(_with_cloud(info, tmp_path / 'nan.bin', nan))
    with pytest.raises(ValueError, match=r"'tok0'.*empty\.bin.*is empty"):
        LoadPointsInEgoFrame()(_with_cloud(info, tmp_path / 'empty.bin', b''))
    out = LoadPointsInEgoFrame(allow_empty=True)(_with_cloud(info, tmp_path / 'empty.bin', b''))
    assert out['points'].shape == (0, 5)
    with pytest.raises(ValueError, match=r"'tok0'.*odd\.bin.*7 bytes"):
        LoadPointsInEgoFrame()(_with_cloud(info, tmp_path / 'odd.bin', b'1234567'))
    missing = dict(info, lidar_points=dict(info['lidar_points'], lidar_path='/no/such.bin'))
    with pytest.raises(FileNotFoundError, match=r"'tok0'.*/no/such\.bin"):
        LoadPointsInEgoFrame()(missing)


def test_remove_close_and_arg_checks(tiny_e2e_infos):
    out = LoadPointsInEgoFrame(remove_close=2.0)(tiny_e2e_infos[0])
    assert out['points'].shape == (1, 5)  # the lidar (1, 0, 0) point is dropped
    with pytest.raises(ValueError, match='use_dim'):
        LoadPointsInEgoFrame(load_dim=4, use_dim=[0, 1, 2, 4])
    with pytest.raises(ValueError, match=r"'tok0'.*5 values per point but load_dim=4"):
        LoadPointsInEgoFrame(load_dim=4)(tiny_e2e_infos[0])
