# Copyright (c) mmautomot contributors. All rights reserved.
"""The closed-loop agent core driving the tiny DriveMoE (random weights): in process and over the model server.

The 6-camera rig; the Driver feeds the routed views in label order then the front camera; every control tick
runs the VLM prefix (synchronous, pi0-style) and 10 flow steps over its cache; the latency log records the
flow steps and the routed view.
"""

import json
import math
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from mmautomot.closed_loop import ClosedLoopAgent, ModelServer, RemoteDriver, build_driver

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.join(REPO, 'tests', 'test_closed_loop'))
from closed_loop_fakes import SENSORS, make_input_data, straight_route_gps  # noqa: E402

CFG = osp.join(REPO, 'projects', 'drivemoe', 'configs', 'drivemoe_tiny_1xb4-300i_bench2drive-synthetic.py')
CAMS = ['CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT', 'CAM_FRONT']
W, H = 128, 64
RIG = [s for s in SENSORS if s['id'] not in ('CAM_FRONT', 'LIDAR')] + [
    dict(type='sensor.camera.rgb', id=c, x=0.0, y=0.0, z=1.6, roll=0.0, pitch=0.0, yaw=0.0, width=W, height=H, fov=70)
    for c in CAMS
]


def _metric_provider():
    return dict(
        location=[0, 0, 0], rotation=[0, 0, 0], velocity=[3, 0, 0], acceleration=[0, 0, 0], angular_velocity=[0, 0, 0]
    )


def _data(k):
    data = make_input_data(k, x=0.15 * k, speed=3.0, h=H, w=W, drop=('LIDAR',))
    rng = np.random.default_rng(100 + k)
    for c in CAMS[:-1]:
        data[c] = (k, rng.integers(0, 255, (H, W, 4), dtype=np.uint8))
    return data


def _drive(driver, save_dir, ticks):
    agent = ClosedLoopAgent(dict(sensors=RIG), driver=driver, save_dir=save_dir, metric_provider=_metric_provider)
    agent.set_global_plan_gps(straight_route_gps())
    controls = [agent.run_step(_data(k), timestamp=0.05 * k) for k in range(ticks)]
    agent.destroy()
    for c in controls:
        assert all(math.isfinite(v) for v in c.values()) and -1.0 <= c['steer'] <= 1.0, c
    return json.loads(open(osp.join(save_dir, 'latency.json')).read())


@pytest.fixture(scope='module')
def driver():
    torch.manual_seed(0)
    return build_driver(dict(type='local', config=CFG, checkpoint=None, driver_kwargs=dict(cam_names=CAMS)))


def test_drivemoe_drives_the_agent_in_process(driver, tmp_path):
    assert driver.ue_refresh.synchronous
    seen = []
    step = driver.step
    driver.step = lambda obs: seen.append(step(obs)) or seen[-1]
    try:
        lat = _drive(driver, str(tmp_path / 'route'), 3)
    finally:
        del driver.step
    for k in ('0', '1', '2'):
        assert lat[k]['mode'] == 'drive' and lat[k]['driver_flow_steps'] == 10
        assert lat[k]['driver_routed_view'] in (0, 1, 2, 3, 4) and lat[k]['driver_ue'] > 0
    for o in seen:
        assert o['waypoints'].shape == (6, 2) and np.isfinite(o['waypoints']).all()
        assert o['meta_actions'].shape == (0, 2) and o['info']['flow_steps'] == 10
    # the routed view logged is the model's argmax for that tick's images
    model = driver.model
    data = driver.prepare(
        dict(
            images={c: np.zeros((H, W, 3), np.uint8) for c in CAMS},
            points=np.zeros((0, 4)),
            speed=3.0,
            target_point=np.array([10.0, 0.0]),
            command=3,
        )
    )
    out = model.sample_actions(data['inputs'], data['data_samples'])
    assert int(out['extras']['camera_index'][0]) == int(out['extras']['camera_logits'][0].argmax())


def test_drivemoe_through_the_model_server(driver, tmp_path):
    driver.reset()
    server = ModelServer(driver, port=0, secret='drivemoe-test-secret-0123')
    thread = server.start_in_thread()
    client = RemoteDriver(port=server.port, timeout=120, connect_retries=5, secret='drivemoe-test-secret-0123')
    try:
        lat = _drive(client, str(tmp_path / 'remote'), 2)
    finally:
        client.close()
        server.stop()
        thread.join(timeout=10)
    assert [lat[k]['driver_flow_steps'] for k in ('0', '1')] == [10, 10]
    assert all(lat[k]['driver_routed_view'] in (0, 1, 2, 3, 4) for k in ('0', '1'))
