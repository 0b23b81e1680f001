# Copyright (c) mmautomot contributors. All rights reserved.
"""``make_env(render_sidewalk=False)``: sidewalks leave the camera images but keep their physics (fresh
processes: one MetaDrive engine and one Panda3D display per process)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('metadrive')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = r"""
import json, sys
import numpy as np
from mmautomot.closed_loop.metadrive import make_env
from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides
from mmautomot.closed_loop.metadrive.sensors import MetaDriveSensors
env = make_env('pg', camera=dict(width=64, height=36), cache_dir=sys.argv[1], map='S', traffic_density=0.0,
               num_scenarios=1, start_seed=0, render_sidewalk=sys.argv[2] == '1', **closed_loop_env_overrides())
obs, _ = env.reset(seed=0)
sens = MetaDriveSensors(env)
sens.set_observation(obs)
img = sens.read()['CAM_FRONT'][1][..., :3]  # the road ahead between its sidewalks
first = None
for t in range(120):  # steer left, off the road onto the sidewalk
    obs, *_ = env.step([0.5, 0.6])
    if first is None and env.agent.crash_sidewalk:
        first = t
print(json.dumps(dict(first=first, pos=[float(v) for v in env.agent.position], img=img.tolist())))
env.close()
"""


def _run(tmp_path, render):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('DISPLAY', None)
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, str(tmp_path / 'cache'), str(int(render))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if proc.returncode != 0 and ('p3headlessgl' in proc.stderr or 'EGL' in proc.stderr):
        pytest.skip(f'headless EGL rendering unavailable here: {proc.stderr.strip().splitlines()[-1]}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_hidden_sidewalks_keep_their_physics(tmp_path):
    shown, hidden = _run(tmp_path, True), _run(tmp_path, False)
    assert shown['first'] is not None and hidden['first'] == shown['first']  # the curb is still there
    assert np.allclose(hidden['pos'], shown['pos'])
    differ = (np.asarray(hidden['img']) != np.asarray(shown['img'])).any(-1)
    assert differ.mean() > 0.01  # but not in the image
