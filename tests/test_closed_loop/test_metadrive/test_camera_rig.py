# Copyright (c) mmautomot contributors. All rights reserved.
"""Six-camera rig option: one tick rendered headless through EGL (fresh process: Panda3D picks its display
once per process) and passed through the agent core into the driver's observation."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest

pytest.importorskip('metadrive')

from mmautomot.closed_loop.metadrive.sensors import rig_sensor_specs, six_camera_rig  # noqa: E402
from mmautomot.datasets.bench2drive.rig import B2D_CAMERA_RIG  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = r"""
import json, sys
import numpy as np
from mmautomot.closed_loop.agent_core import ClosedLoopAgent
from mmautomot.closed_loop.metadrive import make_env
from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides
from mmautomot.closed_loop.metadrive.sensors import (MetaDriveSensors, rig_sensor_specs, route_from_navigation,
                                                     six_camera_rig)
from mmautomot.closed_loop.protocol import validate_observation

class Rec:
    def __init__(self):
        self.obs = []
    def step(self, obs):
        self.obs.append(obs)
        wps = np.array([[0.5 * (i + 1), 0.0] for i in range(6)])
        return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)

rig = six_camera_rig(64, 36)  # imports the dataset package: before EGL starts (LLVM clash with triton)
env = make_env('pg', camera=dict(width=64, height=36), cache_dir=sys.argv[1], map='S', traffic_density=0.3,
               num_scenarios=1, start_seed=0, **closed_loop_env_overrides(),
               vehicle_config=dict(spawn_longitude=30.0))  # road behind: the back cameras see more than background
obs, _ = env.reset(seed=0)
sens = MetaDriveSensors(env, camera_rig=rig)
sens.set_observation(obs)
data = sens.read()
cfg = dict(sensors=[dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, yaw=-90.0)]
           + rig_sensor_specs(rig), dt=0.05)
drv = Rec()
agent = ClosedLoopAgent(cfg, driver=drv)
points, options, _ = route_from_navigation(env.agent.navigation)
agent.planner.set_route_world(points, options)
agent.run_step(data, timestamp=0.0)
o = drv.obs[0]
validate_observation(o)
imgs = {k: np.asarray(v) for k, v in o['images'].items()}
raw = {k: data[k][1] for k in rig}
env.close()
print(json.dumps(dict(
    raw={k: [list(v.shape), str(v.dtype), int(v[..., 3].min()), float(v[..., :3].std())] for k, v in raw.items()},
    obs={k: list(v.shape) for k, v in imgs.items()},
    front_vs_back=float(np.abs(raw['CAM_FRONT'][..., :3].astype(float) - raw['CAM_BACK'][..., :3]).mean()),
    left_vs_right=float(np.abs(raw['CAM_FRONT_LEFT'][..., :3].astype(float) - raw['CAM_FRONT_RIGHT'][..., :3]).mean()),
    rgb_is_bgr_flipped=bool(np.array_equal(imgs['CAM_FRONT'], raw['CAM_FRONT'][..., 2::-1])),
)))
"""


def test_six_camera_rig_specs():
    rig = six_camera_rig(320, 180)
    assert list(rig) == list(B2D_CAMERA_RIG)
    assert rig['CAM_BACK']['yaw'] == 180.0 and rig['CAM_BACK']['fov'] == 110.0
    assert rig['CAM_FRONT_LEFT']['yaw'] == -55.0 and rig['CAM_FRONT']['width'] == 320
    specs = rig_sensor_specs(rig)
    assert [s['id'] for s in specs] == list(rig) and {s['type'] for s in specs} == {'sensor.camera.rgb'}


def test_six_camera_rig_renders_one_tick(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('DISPLAY', None)
    cache = str(tmp_path / 'metadrive_0.4.3' / 'assets')
    proc = subprocess.run([sys.executable, '-c', SCRIPT, cache], capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0 and ('p3headlessgl' in proc.stderr or 'EGL' in proc.stderr):
        pytest.skip(f'headless EGL rendering unavailable here: {proc.stderr.strip().splitlines()[-1]}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out['raw']) == set(B2D_CAMERA_RIG) == set(out['obs'])
    for name, (shape, dtype, alpha, std) in out['raw'].items():
        assert shape == [36, 64, 4] and dtype == 'uint8' and alpha == 255, name
        assert std > 2, f'{name} looks blank'
        assert out['obs'][name] == [36, 64, 3]
    assert out['front_vs_back'] > 5 and out['left_vs_right'] > 1  # different views, not one image six times
    assert out['rgb_is_bgr_flipped']  # the agent core's RGB images, as from the CARLA BGRA buffers
