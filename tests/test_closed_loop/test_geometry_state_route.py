# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest

from mmautomot.closed_loop.route_planner import RoutePlanner
from mmautomot.closed_loop.state import StateEstimator
from mmautomot.structures.geometry import (
    carla_xy_to_gps,
    compass_to_yaw,
    ego_to_world,
    gps_to_carla_xy,
    resample_polyline,
    world_to_ego,
)


@pytest.mark.parametrize('ref', [(0.0, 0.0), (49.0, 8.0)])
def test_gps_roundtrip(ref):
    xy = np.array([[123.4, -56.7], [-300.0, 250.0]])
    latlon = carla_xy_to_gps(xy, *ref)
    back = gps_to_carla_xy(latlon[:, 0], latlon[:, 1], *ref)
    np.testing.assert_allclose(back, xy, atol=1e-6)
    # CARLA -y is north: larger latitude
    assert carla_xy_to_gps([0.0, -100.0])[0] > carla_xy_to_gps([0.0, 0.0])[0]


def test_compass_and_frames():
    assert compass_to_yaw(np.pi / 2) == pytest.approx(0.0)  # facing east = +x
    assert compass_to_yaw(0.0) == pytest.approx(np.pi / 2)  # north = CARLA -y = rh +y
    p = world_to_ego([[1.0, 1.0]], [1.0, 0.0], np.pi / 2)
    np.testing.assert_allclose(p, [[1.0, 0.0]], atol=1e-12)  # point 1 m ahead when facing +y
    np.testing.assert_allclose(ego_to_world(p, [1.0, 0.0], np.pi / 2), [[1.0, 1.0]], atol=1e-12)


def test_resample_polyline_masks():
    path, mask = resample_polyline(np.array([[2.0, 0.0], [5.5, 0.0]]), 1.0, 8)
    np.testing.assert_allclose(path[:5, 0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(mask, [1, 1, 1, 1, 1, 0, 0, 0])


def test_state_nan_compass_keeps_last_heading():
    est = StateEstimator()
    lat, lon = carla_xy_to_gps([10.0, 0.0])
    s0 = est.update([lat, lon, 0], [0, 0, 9.8, 0, 0, 0, 0.0], {'speed': 2.0})
    assert s0.yaw == pytest.approx(np.pi / 2) and s0.compass_valid
    s1 = est.update([lat, lon, 0], [0, 0, 9.8, 0, 0, 0, float('nan')], {'speed': None})
    assert s1.yaw == pytest.approx(np.pi / 2) and not s1.compass_valid
    assert s1.speed == 2.0 and not s1.speed_valid
    np.testing.assert_allclose(s1.xy, [10.0, 0.0], atol=1e-6)
    # GNSS dropout: dead reckoning along the heading (+y) with the last speed over dt
    s2 = est.update(None, None, 2.0)
    np.testing.assert_allclose(s2.xy, [10.0, 0.1], atol=1e-6)
    # IMU frame is left-handed: lateral acc and yaw rate flip sign
    s3 = est.update([lat, lon, 0], [1.0, 0.5, 9.8, 0, 0, 0.2, 0.0], 2.0)
    np.testing.assert_allclose(s3.ego_status, [2.0, 1.0, -0.5, -0.2], atol=1e-6)


def test_route_planner_advances_and_commands():
    rp = RoutePlanner(min_distance=5.0, max_distance=50.0)
    pts = np.array([[0, 0], [10, 0], [20, 0], [30, 10]], float)
    rp.set_route_world(pts, [4, 4, 1, 3])
    out = rp.run_step([0.0, 0.0], 0.0)
    np.testing.assert_allclose(out['target_point'], [10, 0])
    assert out['command'] == 3  # lane_follow
    out = rp.run_step([12.0, 0.0], 0.0)  # passed the point at 10 m
    np.testing.assert_allclose(out['target_point'], [8, 0])
    assert out['command'] == 0  # RoadOption LEFT -> turn_left
    out = rp.run_step([29.0, 9.0], np.pi / 2)  # last point is never dropped
    assert out['route_index'] == 3
    np.testing.assert_allclose(out['target_point'], [1, -1], atol=1e-6)


def test_route_planner_from_gps():
    rp = RoutePlanner()
    latlon = carla_xy_to_gps(np.array([[0.0, 0.0], [0.0, 20.0]]))  # CARLA +y (south)
    rp.set_route_gps([(latlon[0, 0], latlon[0, 1], 4), (latlon[1, 0], latlon[1, 1], 2)])
    out = rp.run_step([0.0, -0.0], 0.0)
    assert out['route_index'] == 1  # first point within min_distance
    np.testing.assert_allclose(out['target_point'], [0.0, -20.0], atol=1e-3)  # to the right
    assert out['command'] == 1


def test_state_validity_needs_a_fix_and_a_compass():
    est = StateEstimator()
    lat, lon = carla_xy_to_gps([10.0, 0.0])
    s0 = est.update([float('nan'), lon, 0], [0, 0, 9.8, 0, 0, 0, float('nan')], 2.0)
    assert not s0.valid and s0.invalid_reason() == 'no valid GNSS fix / compass yet'
    s1 = est.update([lat, lon, 0], [0, 0, 9.8, 0, 0, 0, float('nan')], 2.0)
    assert s1.has_fix and not s1.valid and s1.invalid_reason() == 'no valid compass yet'
    s2 = est.update(None, None, 2.0)  # no heading yet: no dead reckoning along a made-up yaw
    np.testing.assert_allclose(s2.xy, [10.0, 0.0], atol=1e-6)
    s3 = est.update(None, [0, 0, 9.8, 0, 0, 0, 0.0], 2.0)
    assert s3.valid and s3.invalid_reason() == '' and not s3.gps_valid
    np.testing.assert_allclose(s3.xy, [10.0, 0.1], atol=1e-6)  # dead-reckoned along +y now
    s4 = est.update(None, [0, 0, 9.8, 0, 0, 0, float('nan')], None)
    assert s4.valid  # a dropout after a valid state keeps it valid (last heading, dead reckoning)
    est.reset()
    assert not est.state.valid
