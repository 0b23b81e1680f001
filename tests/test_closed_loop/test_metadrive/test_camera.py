# Copyright (c) mmautomot contributors. All rights reserved.
"""Front camera through headless EGL on the placeholder pack (fresh process: Panda3D picks its display
once per process)."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest

pytest.importorskip('metadrive')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SCRIPT = r"""
import json, sys
import numpy as np
from mmautomot.closed_loop.metadrive import make_env
from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides
from mmautomot.closed_loop.metadrive.sensors import MetaDriveSensors
env = make_env('pg', camera=dict(width=64, height=36), cache_dir=sys.argv[1], map='S', traffic_density=0.3,
               num_scenarios=1, start_seed=0, **closed_loop_env_overrides())
obs, _ = env.reset(seed=0)
sens = MetaDriveSensors(env)
sens.set_observation(obs)
frames = []
for _ in range(3):
    data = sens.read()
    frames.append(data['CAM_FRONT'][1])
    sens.set_observation(env.step([0.0, 0.5])[0])
env.close()
img = frames[-1]
print(json.dumps(dict(shape=list(img.shape), dtype=str(img.dtype), alpha=int(img[..., 3].min()),
                      std=float(img[..., :3].std()), colours=int(len(np.unique(img[..., :3].reshape(-1, 3), axis=0))))))
"""


def test_front_camera_renders_headless(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('DISPLAY', None)
    cache = str(tmp_path / 'metadrive_0.4.3' / 'assets')
    proc = subprocess.run([sys.executable, '-c', SCRIPT, cache], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['shape'] == [36, 64, 4] and out['dtype'] == 'uint8' and out['alpha'] == 255
    assert out['std'] > 5 and out['colours'] > 3  # road, sidewalks, sky: not a blank buffer
    assert osp.isfile(osp.join(cache, 'models', 'box.bam'))  # written by Panda3D from the placeholder egg
