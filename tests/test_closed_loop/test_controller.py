# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest

from mmautomot.closed_loop.controller import PIDController, TrajectoryController


def _wps(speed):
    return np.stack([np.arange(1, 7) * 0.5 * speed, np.zeros(6)], 1)


def test_pid_terms():
    pid = PIDController(kp=2.0, ki=1.0, kd=0.5, window=4)
    assert pid.step(1.0) == pytest.approx(2.0 + 0.25 + 0.5)
    assert pid.step(1.0) == pytest.approx(2.0 + 0.5 + 0.0)


@pytest.mark.parametrize('mode', ['path', 'aim'])
def test_straight_path_zero_steer(mode):
    c = TrajectoryController(lateral_mode=mode)
    path = np.stack([np.arange(1, 21.0), np.zeros(20)], 1)
    out = c.step(_wps(5.0), 4.0, path)
    assert abs(out['steer']) < 1e-9
    assert out['brake'] == 0.0 and 0 < out['throttle'] <= 0.75
    assert out['desired_speed'] == pytest.approx(5.0)


def test_left_curve_steers_left_in_carla_convention():
    c = TrajectoryController()
    s = np.arange(1, 21.0)
    path = np.stack([10 * np.sin(s / 10), 10 * (1 - np.cos(s / 10))], 1)  # curving to +y (left)
    out = c.step(_wps(5.0), 4.0, path)
    assert out['angle'] > 0 and out['steer'] < 0  # CARLA: negative steer = left
    right = TrajectoryController().step(_wps(5.0), 4.0, path * np.array([1, -1]))
    assert right['steer'] == pytest.approx(-out['steer'])


def test_brake_and_clipping():
    c = TrajectoryController(max_steer=0.3)
    out = c.step(np.zeros((6, 2)), 3.0)  # standing plan -> brake
    assert out['brake'] == 1.0 and out['throttle'] == 0.0
    out = c.step(_wps(2.0), 5.0)  # too fast -> brake
    assert out['brake'] == 1.0
    path = np.array([[0.1, 5.0], [0.1, 10.0]])  # hard left
    out = TrajectoryController(max_steer=0.3, lateral=dict(kp=10.0)).step(_wps(5.0), 1.0, path)
    assert out['steer'] == pytest.approx(-0.3)
    out = c.step(_wps(5.0), 4.0, speed_cap=2.0)
    assert out['desired_speed'] == 2.0 and out['brake'] == 1.0
