# Copyright (c) mmautomot contributors. All rights reserved.
"""The closed-loop agent driving the REAL tiny AutoMoT (random weights) on fake leaderboard sensor data.

In-process (``build_driver(dict(type='local', ...))``) and through the loopback model server
(``ModelServer`` + ``RemoteDriver``). The tiny config's UE refresh policy refreshes the understanding expert
(UE) every 2nd tick; the action expert (AE) runs every tick against the cached prefix.
"""

import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from closed_loop_fakes import SENSORS, make_input_data, straight_route_gps

from mmautomot.closed_loop import ClosedLoopAgent, ModelServer, RemoteDriver, build_driver

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AUTOMOT_TINY = osp.join(REPO, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_nuscenes-e2e.py')
# the tiny AutoMoT was trained on 128 x 64 front images (its config's cam_size)
CAM_W, CAM_H = 128, 64
RIG = [dict(s, width=CAM_W, height=CAM_H) if s['id'] == 'CAM_FRONT' else s for s in SENSORS]


def _metric_provider():
    return dict(
        location=[0, 0, 0], rotation=[0, 0, 0], velocity=[3, 0, 0], acceleration=[0, 0, 0], angular_velocity=[0, 0, 0]
    )


def _agent(driver, save_dir):
    agent = ClosedLoopAgent(dict(sensors=RIG), driver=driver, save_dir=save_dir, metric_provider=_metric_provider)
    agent.set_global_plan_gps(straight_route_gps())
    return agent


def _drive(agent, ticks, start=0):
    controls = []
    for k in range(start, start + ticks):
        data = make_input_data(k, x=0.15 * k, speed=3.0, h=CAM_H, w=CAM_W)
        controls.append(agent.run_step(data, timestamp=0.05 * k))
    return controls


def _check_controls(controls):
    for c in controls:
        assert set(c) == {'steer', 'throttle', 'brake'}
        assert all(math.isfinite(v) for v in c.values()), c
        assert -1.0 <= c['steer'] <= 1.0 and 0.0 <= c['throttle'] <= 1.0 and 0.0 <= c['brake'] <= 1.0, c


@pytest.fixture(scope='module')
def automot_driver():
    if not osp.isfile(AUTOMOT_TINY):
        pytest.skip(f'{AUTOMOT_TINY} does not exist')
    torch.manual_seed(0)
    return build_driver(dict(type='local', config=AUTOMOT_TINY, checkpoint=None))


def test_local_automot_driver_six_ticks(automot_driver, tmp_path):
    driver = automot_driver
    driver.reset()
    assert driver.ue_refresh.ue_interval == 2 and not driver.ue_refresh.synchronous
    seen = []
    step = driver.step
    driver.step = lambda obs: seen.append(step(obs)) or seen[-1]  # keep the raw Driver outputs
    try:
        agent = _agent(driver, str(tmp_path / 'route0'))
        controls = _drive(agent, 6)
        agent.destroy()
    finally:
        del driver.step
    _check_controls(controls)

    # the UE ran on ticks 0, 2, 4 (cache age 0), the AE read a 1-tick-old cache on 1, 3, 5
    assert [o['ue_ran'] for o in seen] == [True, False] * 3
    assert [o['cache_age'] for o in seen] == [0, 1] * 3
    assert [o['tick'] for o in seen] == list(range(6))
    for o in seen:
        assert o['waypoints'].shape == (6, 2) and o['path'].shape == (20, 2) and o['meta_actions'].shape == (3, 2)
        assert np.isfinite(o['waypoints']).all() and np.isfinite(o['path']).all()
        assert (o['meta_actions'] >= 0).all() and len(o['meta_action_text']) == 3

    d = tmp_path / 'route0'
    lat = json.loads((d / 'latency.json').read_text())
    assert sorted(lat, key=int) == [str(k) for k in range(6)]
    assert [lat[str(k)]['mode'] for k in range(6)] == ['drive'] * 6
    ue_ms = [lat[str(k)]['driver_ue'] for k in range(6)]
    assert all(ue_ms[k] > 0 for k in (0, 2, 4)) and all(ue_ms[k] == 0 for k in (1, 3, 5)), ue_ms
    assert [lat[str(k)]['ue_refresh_cache_age'] for k in range(6)] == [0, 1] * 3
    assert {lat[str(k)]['ue_refresh_mode'] for k in range(6)} == {'inline'}
    assert not any(lat[str(k)]['ue_refresh_refresh_in_flight'] for k in range(6))
    assert all(
        lat[str(k)]['driver_ae'] > 0 and lat[str(k)]['total_ms'] >= lat[str(k)]['driver_ms'] > 0 for k in range(6)
    )
    mi = json.loads((d / 'metric_info.json').read_text())
    assert sorted(mi, key=int) == [str(k) for k in range(6)] and mi['5']['timestamp'] == pytest.approx(0.25)
    assert json.loads((d / 'events.json').read_text()) == []  # no fallback, no driver error
    cfg = json.loads((d / 'agent_config.json').read_text())
    assert cfg['heuristics']['creep'] is False and cfg['action_interval'] == 1


def test_automot_through_model_server(automot_driver, tmp_path):
    driver = automot_driver
    driver.reset()
    server = ModelServer(driver, port=0, secret='automot-test-secret-0123')
    thread = server.start_in_thread()
    client = RemoteDriver(port=server.port, timeout=120, connect_retries=5, secret='automot-test-secret-0123')
    try:
        assert client.ping()
        agent = _agent(client, str(tmp_path / 'remote_route'))
        controls = _drive(agent, 2)
        agent.recorder.close()  # flush the logs, keep the connection for the next route
        _check_controls(controls)
        lat = json.loads((tmp_path / 'remote_route' / 'latency.json').read_text())
        assert [lat[k]['mode'] for k in ('0', '1')] == ['drive', 'drive']
        assert lat['0']['driver_ue'] > 0 and lat['1']['driver_ue'] == 0 and lat['1']['driver_ae'] > 0
        assert json.loads((tmp_path / 'remote_route' / 'events.json').read_text()) == []

        # Another route on the same server (a leaderboard process per route, one long-lived model
        # server): its first observation carries reset=True, so the driver must start afresh: UE at
        # tick 0 of the new route, no cache or front-camera history from the previous one. After an odd
        # number of ticks the UE refresh policy would otherwise reuse the old route's cache.
        _drive(agent, 1, start=2)
        agent2 = _agent(client, str(tmp_path / 'remote_route2'))
        _check_controls(_drive(agent2, 1))
        agent2.recorder.close()
        lat2 = json.loads((tmp_path / 'remote_route2' / 'latency.json').read_text())
        assert lat2['0']['mode'] == 'drive' and lat2['0']['driver_ue'] > 0
        assert driver.ue_refresh.tick == 1 and len(driver.history) == 1  # started afresh
    finally:
        client.close()
        server.stop()
        thread.join(timeout=10)
    assert server.requests_served == 5  # ping + 4 steps


class _ResettableDriver:
    def __init__(self):
        self.resets, self.calls = [], 0

    def reset(self):
        self.resets.append(self.calls)

    def step(self, obs):
        self.calls += 1
        return dict(
            meta_actions=np.zeros((3, 2)),
            path=np.stack([np.arange(1, 21.0), np.zeros(20)], 1),
            waypoints=np.stack([np.arange(1, 7.0), np.zeros(6)], 1),
        )


def test_agent_resets_a_reused_driver_at_route_start():
    drv = _ResettableDriver()
    for _ in range(2):  # two routes, one driver
        _drive(_agent(drv, None), 3)
    assert drv.resets == [0, 3] and drv.calls == 6


def test_ue_refresh_from_driver_kwargs(automot_driver):
    """``driver_kwargs=dict(ue_refresh=...)`` sets the UE refresh rate (here synchronous, AutoMoT-S)."""
    from mmautomot.apis import Driver

    drv = Driver(automot_driver.model, ue_refresh=dict(type='UERefreshPolicy', mode='sync'))
    agent = _agent(drv, None)
    _drive(agent, 2)
    assert [agent.recorder.latency[k]['driver_ue'] > 0 for k in ('0', '1')] == [True, True]


def test_background_driver_latency_log(automot_driver):
    """``driver_kwargs=dict(mode='background')``: the latency log shows the mode, the age of the cache the AE
    read and whether a background refresh was in flight."""
    from mmautomot.apis import Driver

    drv = Driver(automot_driver.model, mode='background', ue_interval=2)
    try:
        agent = _agent(drv, None)
        _drive(agent, 4)
    finally:
        drv.close()
    lat = [agent.recorder.latency[str(k)] for k in range(4)]
    assert {x['ue_refresh_mode'] for x in lat} == {'background'} and lat[0]['ue_refresh_cache_age'] == 0
    assert lat[0]['driver_ue'] > 0 and all(x['driver_ue'] == 0 for x in lat[1:])  # only the first tick waits
    assert lat[2]['ue_refresh_refresh_in_flight']  # the refresh of tick 2 runs while its AE ticks
    assert all(x['ue_refresh_cache_age'] == k - x['ue_refresh_cache_tick'] for k, x in enumerate(lat))


def test_driver_accepts_ue_interval_kwargs(automot_driver):
    from mmautomot.apis import Driver

    drv = Driver(automot_driver.model, ue_interval=1, max_cache_age=4)
    assert drv.ue_refresh.ue_interval == 1 and drv.ue_refresh.max_cache_age == 4


def test_ue_schedule_follows_agent_ticks_with_action_interval(automot_driver):
    automot_driver.reset()
    agent = ClosedLoopAgent(dict(sensors=RIG, action_interval=2), driver=automot_driver)
    agent.set_global_plan_gps(straight_route_gps())
    _drive(agent, 3)  # the driver is called on ticks 0 and 2, both UE ticks of a 2-tick schedule
    assert agent.recorder.latency['2']['driver_ue'] > 0
