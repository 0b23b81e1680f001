# Copyright (c) mmautomot contributors. All rights reserved.
import importlib
import json
import sys
import types

import numpy as np
import pytest

from mmautomot.closed_loop.comfort import comfort_corrected, comfort_official, comfort_signals
from mmautomot.closed_loop.metrics import comfort_from_metric_info


def frames(n, acc_x=0.0, acc_y=0.0, yaw_rate_deg=0.0, yaw_deg=0.0, vectors=False):
    """``n`` ticks of Bench2Drive-format metric_info; ``acc_x`` may be an array (one value per tick)."""
    acc_x = np.broadcast_to(np.asarray(acc_x, dtype=float), (n,))
    out = {}
    for k in range(n):
        fr = dict(
            location=[k, 0, 0],
            rotation=[0.0, 0.0, yaw_deg],
            velocity=[5, 0, 0],
            acceleration=[float(acc_x[k]), acc_y, 0],
            angular_velocity=[0, 0, yaw_rate_deg],
        )
        if vectors:
            y = np.radians(yaw_deg)
            fr.update(forward_vector=[np.cos(y), np.sin(y), 0.0], right_vector=[-np.sin(y), np.cos(y), 0.0])
        out[str(k)] = fr
    return out


def test_calm_drive_is_comfortable_in_both():
    calm = frames(40)
    assert comfort_official([calm]) == 100.0 and comfort_corrected([calm]) == 100.0
    assert comfort_from_metric_info is comfort_official  # the default is the official one
    assert comfort_official([frames(19)]) is None  # shorter than one 20-frame segment


def test_official_compares_deg_per_s_with_rad_limits():
    # 10 deg/s = 0.17 rad/s: comfortable in SI units, not for the official script (10 > 0.95)
    turn = frames(40, yaw_rate_deg=10.0)
    assert comfort_official([turn]) == 0.0
    assert comfort_corrected([turn]) == 100.0
    sig = comfort_signals(turn, 0.1, 7, 'official')
    # the official "yaw acceleration" is the smoothed yaw rate (deg/s), not its derivative
    np.testing.assert_allclose(sig['yaw_acc'], 10.0, atol=1e-9)
    np.testing.assert_allclose(comfort_signals(turn, 0.05, 15, 'si')['yaw_acc'], 0.0, atol=1e-9)
    assert comfort_official([frames(40, yaw_rate_deg=0.9)]) == 100.0


def test_official_time_step_halves_the_jerk():
    # lon acc ramps 0.25 m/s^2 per frame: jerk 2.5 m/s^3 at the official 0.1 s, 5.0 at the real 0.05 s
    ramp = frames(20, acc_x=-2.5 + 0.25 * np.arange(20))
    np.testing.assert_allclose(comfort_signals(ramp, 0.1, 7, 'official')['lon_jerk'], 2.5, atol=1e-9)
    assert comfort_official([ramp]) == 100.0  # 2.5 < 4.13
    assert comfort_corrected([ramp]) == 0.0  # 5.0 > 4.13


def test_official_averages_route_fractions_corrected_pools_segments():
    bad = frames(20, acc_x=-6.0)  # braking harder than -4.05 m/s^2
    good = frames(60)  # three comfortable segments
    assert comfort_official([bad, good]) == pytest.approx(50.0)  # mean of 0 and 1
    assert comfort_corrected([bad, good]) == pytest.approx(75.0)  # 3 of 4 segments
    # a segment is comfortable only if every frame is: one hard frame spoils its 20-frame segment
    acc = np.zeros(60)
    acc[25] = -30.0
    assert comfort_official([frames(60, acc_x=acc)]) == pytest.approx(100 * 2 / 3)


@pytest.mark.parametrize('vectors', [False, True])
def test_heading_from_rotation_yaw_or_vectors(vectors):
    # accelerating at 3 m/s^2 along +y while facing +y (yaw 90): longitudinal 3.0 > 2.40
    side = frames(20, acc_y=3.0, yaw_deg=90.0, vectors=vectors)
    sig = comfort_signals(side, 0.1, 7, 'official')
    np.testing.assert_allclose(sig['lon_acc'], 3.0, atol=1e-9)
    np.testing.assert_allclose(sig['lat_acc'], 0.0, atol=1e-9)
    assert comfort_official([side]) == 0.0
    # the same acceleration facing +x is lateral (3.0 < 4.89): comfortable
    assert comfort_official([frames(20, acc_y=3.0)]) == 100.0


def test_metric_info_errors_name_the_tick():
    bad = frames(20)
    del bad['3']['acceleration']
    with pytest.raises(KeyError, match="tick 3 lacks 'acceleration'"):
        comfort_official([bad])


def test_hero_metric_info_writes_the_bench2drive_format(monkeypatch):
    carla = pytest.importorskip('carla')
    mod = types.ModuleType('leaderboard.autoagents.autonomous_agent')
    mod.AutonomousAgent, mod.Track = type('AutonomousAgent', (), {}), type('Track', (), {})
    for name, m in [
        ('leaderboard', types.ModuleType('leaderboard')),
        ('leaderboard.autoagents', types.ModuleType('leaderboard.autoagents')),
        ('leaderboard.autoagents.autonomous_agent', mod),
    ]:
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.delitem(sys.modules, 'mmautomot.closed_loop.leaderboard_agent', raising=False)
    la = importlib.import_module('mmautomot.closed_loop.leaderboard_agent')
    tf = carla.Transform(carla.Location(1, 2, 3), carla.Rotation(pitch=5.0, yaw=90.0, roll=2.0))
    actor = types.SimpleNamespace(
        get_transform=lambda: tf,
        get_velocity=lambda: carla.Vector3D(0, 4, 0),
        get_acceleration=lambda: carla.Vector3D(0, 3, 0),
        get_angular_velocity=lambda: carla.Vector3D(0, 0, 0),
    )
    info = json.loads(json.dumps(la.hero_metric_info(actor)))
    monkeypatch.delitem(sys.modules, 'mmautomot.closed_loop.leaderboard_agent', raising=False)
    assert info['rotation'] == [2.0, 5.0, 90.0]  # [roll, pitch, yaw]
    np.testing.assert_allclose(info['right_vector'], [-1, 0, 0], atol=0.05)
    sig = comfort_signals({str(k): info for k in range(20)}, 0.1, 7, 'official')
    np.testing.assert_allclose(sig['lon_acc'], 3.0 * np.cos(np.radians(5.0)), atol=1e-3)
