# Copyright (c) mmautomot contributors. All rights reserved.
import importlib
import json
import os.path as osp
import sys
import types

import numpy as np
import pytest
from closed_loop_fakes import SENSORS, FakeDriver, make_input_data, straight_route_gps

from mmautomot.closed_loop import ClosedLoopAgent
from mmautomot.closed_loop.preprocess import carla_lidar_to_ego, lidar_mount_matrix


def _agent(tmp_path=None, driver=None, **cfg):
    agent = ClosedLoopAgent(
        dict(sensors=SENSORS, **cfg),
        driver=driver or FakeDriver(),
        save_dir=None if tmp_path is None else str(tmp_path / 'route0'),
        metric_provider=lambda: dict(
            location=[0, 0, 0],
            rotation=[0, 0, 0],
            velocity=[3, 0, 0],
            acceleration=[0, 0, 0],
            angular_velocity=[0, 0, 0],
        ),
    )
    agent.set_global_plan_gps(straight_route_gps())
    return agent


def test_end_to_end_logs_and_observation(tmp_path):
    drv = FakeDriver(speed=5.0)
    agent = _agent(tmp_path, drv, heuristics=dict(speed_cap=8.0))
    for k in range(5):
        ctrl = agent.run_step(make_input_data(k, x=0.1 * k), timestamp=0.05 * k)
        assert set(ctrl) == {'steer', 'throttle', 'brake'}
        assert abs(ctrl['steer']) < 1e-6 and ctrl['brake'] == 0.0 and ctrl['throttle'] > 0
    obs = drv.observations[0]
    assert obs['images']['CAM_FRONT'].shape == (32, 64, 3) and obs['images']['CAM_FRONT'].dtype == np.uint8
    assert obs['points'].shape == (500, 4) and obs['points'].dtype == np.float32
    assert obs['tick'] == 0 and obs['reset'] and not drv.observations[1]['reset']
    assert obs['command'] == 3 and obs['target_point'][0] == pytest.approx(10.0, abs=1e-3)
    assert obs['speed'] == 3.0 and obs['ego_status'].shape == (4,)
    agent.destroy()
    d = tmp_path / 'route0'
    cfg = json.loads((d / 'agent_config.json').read_text())
    assert cfg['heuristics']['speed_cap'] == 8.0 and cfg['heuristics']['creep'] is False
    assert cfg['heuristics']['emergency_brake'] is False
    mi = json.loads((d / 'metric_info.json').read_text())
    assert sorted(mi, key=int) == ['0', '1', '2', '3', '4'] and mi['2']['velocity'] == [3, 0, 0]
    lat = json.loads((d / 'latency.json').read_text())
    assert lat['0']['mode'] == 'drive' and lat['0']['driver_ae'] == 1.5 and lat['0']['total_ms'] > 0


def test_rgb_conversion_and_lidar_frame():
    drv = FakeDriver()
    agent = _agent(driver=drv)
    data = make_input_data(0)
    agent.run_step(data)
    np.testing.assert_array_equal(drv.observations[0]['images']['CAM_FRONT'], data['CAM_FRONT'][1][:, :, 2::-1])
    # LiDAR mounted with yaw -90 (CARLA): a point on the sensor's +x axis is to the ego's right
    pts = carla_lidar_to_ego(np.array([[1.0, 0.0, 0.0, 0.5]]), lidar_mount_matrix(0, 0, 2.5, -90.0))
    np.testing.assert_allclose(pts, [[0.0, 1.0, 2.5, 0.5]], atol=1e-6)
    pts = carla_lidar_to_ego(np.array([[0.0, 1.0, 0.0, 0.5]]), lidar_mount_matrix(0, 0, 2.5, 0.0))
    np.testing.assert_allclose(pts, [[0.0, -1.0, 2.5, 0.5]], atol=1e-6)  # CARLA y right -> ego -y


def test_jpeg_reencode_changes_pixels():
    drv = FakeDriver()
    agent = _agent(driver=drv, preprocess=dict(jpeg_quality=50))
    data = make_input_data(0)
    agent.run_step(data)
    img = drv.observations[0]['images']['CAM_FRONT']
    assert img.shape == (32, 64, 3) and not np.array_equal(img, data['CAM_FRONT'][1][:, :, 2::-1])


def test_sensor_dropout_reuses_plan_then_brakes(tmp_path):
    drv = FakeDriver()
    agent = _agent(tmp_path, drv, fallback=dict(max_plan_reuse_ticks=2))
    assert agent.run_step(make_input_data(0))['brake'] == 0.0
    modes = []
    for k in range(1, 5):
        ctrl = agent.run_step(make_input_data(k, drop=('CAM_FRONT',)))
        modes.append((agent.recorder.latency[str(k)]['mode'], ctrl['brake']))
    assert modes == [('fallback_reuse', 0.0), ('fallback_reuse', 0.0), ('fallback_brake', 1.0), ('fallback_brake', 1.0)]
    assert len(drv.observations) == 1  # the driver was not called without its camera
    ctrl = agent.run_step(make_input_data(5))
    assert ctrl['brake'] == 0.0 and len(drv.observations) == 2
    agent.destroy()
    events = json.loads((tmp_path / 'route0' / 'events.json').read_text())
    assert events[0]['kind'] == 'fallback' and 'CAM_FRONT' in events[0]['message']


def test_driver_error_and_no_plan_brakes():
    agent = _agent(driver=FakeDriver(fail_on={0, 2}))
    assert agent.run_step(make_input_data(0)) == dict(steer=0.0, throttle=0.0, brake=1.0)
    assert agent.run_step(make_input_data(1))['brake'] == 0.0
    assert agent.run_step(make_input_data(2))['brake'] == 0.0  # reuses the tick-1 plan
    assert agent.recorder.latency['2']['mode'] == 'fallback_reuse'


def test_nan_compass_and_garbage_never_crash():
    agent = _agent(driver=FakeDriver())
    agent.run_step(make_input_data(0))
    ctrl = agent.run_step(make_input_data(1, compass=float('nan')))
    assert agent.estimator.state.yaw == pytest.approx(0.0) and ctrl['brake'] == 0.0
    bad = make_input_data(2)
    bad['LIDAR'] = (2, np.zeros((3,)))  # wrong shape -> treated as missing
    bad['GPS'] = (2, None)
    assert agent.run_step(bad)['brake'] == 0.0  # reuses the plan
    assert agent.recorder.latency['2']['mode'] == 'fallback_reuse'


def test_action_interval_and_emergency_brake():
    drv = FakeDriver()
    agent = _agent(driver=drv, action_interval=2, heuristics=dict(emergency_brake=True, eb_min_points=5))
    for k in range(4):
        agent.run_step(make_input_data(k))
    assert [o['tick'] for o in drv.observations] == [0, 2]
    data = make_input_data(4)
    wall = np.zeros((50, 4), np.float32)  # CARLA sensor frame, LiDAR yaw -90: ego x = sensor y
    wall[:, 1] = 2.0
    wall[:, 2] = -1.5  # 1 m above ground with the LiDAR at 2.5 m
    data['LIDAR'] = (4, wall)
    assert agent.run_step(data)['brake'] == 1.0
    assert agent.recorder.events[-1]['message'] == 'emergency_brake'


def test_leaderboard_adapter_with_fake_leaderboard(tmp_path, monkeypatch):
    pytest.importorskip('carla')
    lb = types.ModuleType('leaderboard')
    aa = types.ModuleType('leaderboard.autoagents')
    mod = types.ModuleType('leaderboard.autoagents.autonomous_agent')

    class Track:
        SENSORS = 'SENSORS'

    class AutonomousAgent:
        def __init__(self, host, port, debug=False):
            self._global_plan = None

    mod.AutonomousAgent, mod.Track = AutonomousAgent, Track
    for name, m in [
        ('leaderboard', lb),
        ('leaderboard.autoagents', aa),
        ('leaderboard.autoagents.autonomous_agent', mod),
    ]:
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.delitem(sys.modules, 'mmautomot.closed_loop.leaderboard_agent', raising=False)
    la = importlib.import_module('mmautomot.closed_loop.leaderboard_agent')
    assert la.get_entry_point() == 'MMAutoMoTAgent'
    cfg = tmp_path / 'agent.py'
    cfg.write_text(f'agent = dict(sensors={SENSORS!r}, driver=dict(type="remote", port=1))\n')
    monkeypatch.setenv('SAVE_PATH', str(tmp_path / 'save'))
    monkeypatch.setenv('ROUTES_SUBSET', '1711')
    agent = la.MMAutoMoTAgent('localhost', 2000)
    agent.setup(str(cfg))
    assert [s['id'] for s in agent.sensors()] == ['CAM_FRONT', 'LIDAR', 'IMU', 'GPS', 'SPEED']
    agent._global_plan = [
        ({'lat': lat, 'lon': lon, 'z': 0.0}, types.SimpleNamespace(value=opt)) for lat, lon, opt in straight_route_gps()
    ]
    agent._metric_provider = lambda: None
    agent.agent_cfg['driver'] = None
    from mmautomot.closed_loop import agent_core

    monkeypatch.setattr(agent_core, 'build_driver', lambda cfg: FakeDriver())
    control = agent.run_step(make_input_data(0), 0.0)
    import carla

    assert isinstance(control, carla.VehicleControl) and control.throttle > 0
    agent.destroy()
    assert osp.isfile(tmp_path / 'save' / '1711' / 'agent_config.json')
    monkeypatch.delitem(sys.modules, 'mmautomot.closed_loop.leaderboard_agent', raising=False)


def test_leaderboard_adapter_clear_error_without_leaderboard(monkeypatch):
    monkeypatch.setitem(sys.modules, 'leaderboard', None)
    monkeypatch.delitem(sys.modules, 'mmautomot.closed_loop.leaderboard_agent', raising=False)
    with pytest.raises(ImportError, match='PYTHONPATH'):
        importlib.import_module('mmautomot.closed_loop.leaderboard_agent')


def _reverse_route():
    """A straight global plan along CARLA -x (the car faces -x: compass -pi/2)."""
    from mmautomot.structures.geometry import carla_xy_to_gps

    xs = -np.arange(0.0, 200.0, 10.0)
    return [(float(a), float(b), 4) for a, b in carla_xy_to_gps(np.stack([xs, np.zeros_like(xs)], 1))]


@pytest.mark.parametrize('bad', ['compass', 'gnss'])
def test_invalid_state_from_first_tick_brakes_and_is_recorded(tmp_path, bad):
    drv = FakeDriver()
    agent = _agent(tmp_path, drv)
    agent.set_global_plan_gps(_reverse_route())

    def data(k, valid):
        d = make_input_data(k, x=-0.1 * k, compass=-np.pi / 2)
        if not valid and bad == 'compass':
            d['IMU'][1][6] = np.nan
        elif not valid:
            d['GPS'] = (k, np.array([np.nan, np.nan, 0.0]))
        return d

    ctrls = [agent.run_step(data(k, valid=False)) for k in range(3)]
    assert ctrls == [dict(steer=0.0, throttle=0.0, brake=1.0)] * 3
    assert drv.observations == [] and agent.planner.index == 0  # the planner did not run
    assert [agent.recorder.latency[str(k)]['mode'] for k in range(3)] == ['invalid_state'] * 3
    ctrl = agent.run_step(data(3, valid=True))
    assert ctrl['brake'] == 0.0 and ctrl['throttle'] > 0
    obs = drv.observations[0]
    assert obs['reset'] and obs['tick'] == 3  # the route's first driver call drops any cache
    # the target is ahead of the car (10 m along -x from x=-0.3), not behind it
    np.testing.assert_allclose(obs['target_point'], [9.7, 0.0], atol=1e-3)
    agent.destroy()
    events = json.loads((tmp_path / 'route0' / 'events.json').read_text())
    what = 'compass' if bad == 'compass' else 'GNSS fix'
    assert events == [
        dict(tick=0, kind='invalid_state', message=f'no valid {what} yet: braking until the ego state is valid'),
        dict(tick=3, kind='state_valid', message='ego state valid after 3 braked ticks'),
    ]
