# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest

from mmautomot.structures import (
    COMMANDS,
    LATERAL_CLASSES,
    LONGITUDINAL_CLASSES,
    carla_command_to_index,
    derive_meta_actions,
    meta_action_to_text,
    nuscenes_command_from_offset,
)


def _arc(radius, speed, steps=6, dt=0.5, left=True):
    """Constant-speed circular arc starting at the origin heading +x (ego frame)."""
    t = np.arange(1, steps + 1) * dt
    theta = speed * t / radius
    sign = 1.0 if left else -1.0
    return np.stack([radius * np.sin(theta), sign * radius * (1 - np.cos(theta))], axis=1)


def lat(name):
    return LATERAL_CLASSES.index(name)


def lon(name):
    return LONGITUDINAL_CLASSES.index(name)


def test_straight_constant_speed_is_straight_keep():
    traj = np.stack([np.arange(1, 7) * 0.5 * 10.0, np.zeros(6)], axis=1)  # 10 m/s along +x
    out = derive_meta_actions(traj, np.ones(6), cur_speed=10.0)
    assert out.tolist() == [[lat('straight'), lon('keep')]] * 3


def test_turns_by_heading_change():
    # radius 10 m at 5 m/s: heading after 1 s = 0.5 rad (28.6 deg) -> left; turn keeps growing.
    out = derive_meta_actions(_arc(10.0, 5.0), np.ones(6), cur_speed=5.0)
    assert out[:, 0].tolist() == [lat('left')] * 3
    # radius 200 m at 5 m/s: segment heading at 1 s is ~1.1 deg (straight), at 3 s ~3.6 deg (straight);
    # at radius 60 m: ~3.8 / 8.6 / 13.4 deg -> straight, slight_left, slight_left.
    out = derive_meta_actions(_arc(60.0, 5.0), np.ones(6), cur_speed=5.0)
    assert out[:, 0].tolist() == [lat('straight'), lat('slight_left'), lat('slight_left')]
    out = derive_meta_actions(_arc(60.0, 5.0, left=False), np.ones(6), cur_speed=5.0)
    assert out[:, 0].tolist() == [lat('straight'), lat('slight_right'), lat('slight_right')]


def test_longitudinal_classes():
    # Braking from 8 m/s at 2 m/s^2: speed over the segment ending at 1 s is 6.5 -> decelerate.
    t = np.arange(1, 7) * 0.5
    x = np.where(t <= 4.0, 8.0 * t - t**2, 16.0)
    out = derive_meta_actions(np.stack([x, np.zeros(6)], 1), np.ones(6), cur_speed=8.0)
    assert out[:, 1].tolist() == [lon('decelerate')] * 3
    # Standing still: stop, lateral straight (heading undefined).
    out = derive_meta_actions(np.zeros((6, 2)), np.ones(6), cur_speed=0.0)
    assert out.tolist() == [[lat('straight'), lon('stop')]] * 3
    # Accelerating from 2 m/s at 2 m/s^2.
    x = 2.0 * t + t**2
    out = derive_meta_actions(np.stack([x, np.zeros(6)], 1), np.ones(6), cur_speed=2.0)
    assert out[:, 1].tolist() == [lon('accelerate')] * 3


def test_masked_horizon_is_ignored_and_shapes_checked():
    traj = np.stack([np.arange(1, 7) * 5.0, np.zeros(6)], axis=1)
    mask = np.array([1, 1, 1, 1, 0, 0])
    out = derive_meta_actions(traj, mask, cur_speed=10.0)
    assert out[2].tolist() == [-1, -1] and out[0].tolist() != [-1, -1]
    with pytest.raises(ValueError, match='fut_mask has 5'):
        derive_meta_actions(traj, np.ones(5), cur_speed=1.0)


def test_text_and_commands():
    assert meta_action_to_text(lat('slight_right'), lon('keep')) == '[Slight right, Keep]'
    assert meta_action_to_text(-1, -1) == '[?, ?]'
    assert COMMANDS[carla_command_to_index(1)] == 'turn_left'
    assert COMMANDS[carla_command_to_index(4)] == 'lane_follow'
    assert COMMANDS[carla_command_to_index(-1)] == 'lane_follow'
    with pytest.raises(ValueError, match='RoadOption'):
        carla_command_to_index(9)
    assert COMMANDS[nuscenes_command_from_offset(2.5)] == 'turn_left'
    assert COMMANDS[nuscenes_command_from_offset(-2.0)] == 'turn_right'
    assert COMMANDS[nuscenes_command_from_offset(1.9)] == 'go_straight'
