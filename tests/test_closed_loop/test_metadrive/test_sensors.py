# Copyright (c) mmautomot contributors. All rights reserved.
"""MetaDrive state -> leaderboard sensors: the agent core's estimator recovers the simulator's pose."""

import numpy as np
import pytest

pytest.importorskip('metadrive')

from mmautomot.closed_loop.metadrive.sensors import box_side_points, route_commands, world_to_gps, yaw_to_compass  # noqa: E402
from mmautomot.closed_loop.preprocess import carla_lidar_to_ego  # noqa: E402
from mmautomot.closed_loop.state import StateEstimator  # noqa: E402
from mmautomot.structures.geometry import lidar_mount_matrix  # noqa: E402


@pytest.mark.parametrize('xy,yaw', [((12.5, -40.0), 0.3), ((-300.0, 85.2), -2.9), ((0.0, 0.0), np.pi / 2)])
def test_gps_and_compass_round_trip_through_the_state_estimator(xy, yaw):
    lat, lon = world_to_gps(np.array(xy))
    imu = [0.5, -0.2, 9.81, 0, 0, -0.1, yaw_to_compass(yaw)]
    st = StateEstimator().update([lat, lon, 0.0], imu, {'speed': 3.0})
    np.testing.assert_allclose(st.xy, xy, atol=1e-6)
    assert abs(np.angle(np.exp(1j * (st.yaw - yaw)))) < 1e-9
    assert st.lon_acc == 0.5 and st.lat_acc == pytest.approx(0.2) and st.yaw_rate == pytest.approx(0.1)


def test_lidar_points_survive_the_agents_preprocessing():
    from mmautomot.closed_loop.metadrive.sensors import MetaDriveSensors

    sens = MetaDriveSensors.__new__(MetaDriveSensors)
    mount = dict(x=0.3, y=0.0, z=2.5, yaw=-90.0)
    sens.ego2lidar = np.linalg.inv(lidar_mount_matrix(**mount))
    pts = np.array([[10.0, 2.0, 0.5, 1.0], [-3.0, -7.5, 1.3, 1.0]], np.float32)
    back = carla_lidar_to_ego(sens.to_carla_lidar(pts), lidar_mount_matrix(**mount))
    np.testing.assert_allclose(back, pts, atol=1e-5)


def test_box_side_points_lie_on_the_box():
    corners = np.array([[2.0, 1.0], [2.0, -1.0], [-2.0, -1.0], [-2.0, 1.0]])
    pts = box_side_points(corners, height=1.5, spacing=0.5)
    assert set(np.round(pts[:, 2], 3)) == {0.3, 0.8, 1.3}
    on_x = np.isclose(np.abs(pts[:, 0]), 2.0) & (np.abs(pts[:, 1]) <= 1.0 + 1e-9)
    on_y = np.isclose(np.abs(pts[:, 1]), 1.0) & (np.abs(pts[:, 0]) <= 2.0 + 1e-9)
    assert (on_x | on_y).all() and len(pts) == 3 * 24


def test_route_commands_from_the_heading_change():
    straight = np.stack([np.arange(0, 100, 8.0), np.zeros(13)], axis=1)
    assert set(route_commands(straight)) == {4}
    theta = np.linspace(0, np.pi / 2, 10)
    left = np.concatenate([straight, np.stack([96 + 20 * np.sin(theta), 20 - 20 * np.cos(theta)], 1)[1:]])
    cmds = route_commands(left)
    assert cmds[0] == 4 and 1 in cmds and 2 not in cmds
    right = left * np.array([1.0, -1.0])
    assert 2 in route_commands(right) and 1 not in route_commands(right)
