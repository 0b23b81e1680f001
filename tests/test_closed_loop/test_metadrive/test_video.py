# Copyright (c) mmautomot contributors. All rights reserved.
"""Per-episode videos: mp4 written and read back, GIF fallback, six-camera mosaic, and an evaluation with
the six-camera rig writing ``camera.mp4`` next to its metrics (fresh process for headless EGL)."""

import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmautomot.closed_loop.metadrive.video import MOSAIC, mosaic, save_video

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _frames(n=12, h=36, w=64):
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i + 1) * w // n] = (200, 40, 40)  # a red bar growing left to right
        out.append(f)
    return out


def _read_mp4(path):
    import cv2

    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[:, :, ::-1])
    cap.release()
    return frames


def test_mp4_written_and_read_back(tmp_path):
    frames = _frames()
    path = save_video(frames, str(tmp_path / 'ep' / 'camera'), fps=10.0)
    assert path.endswith('camera.mp4')
    back = _read_mp4(path)
    assert len(back) == 12 and back[0].shape == (36, 64, 3)
    # lossy codec, but the bar's colour and growth survive
    assert back[-1][18, 60, 0] > 150 and back[-1][18, 60, 2] < 100 and back[0][18, 60, 0] < 60


def test_gif_option_and_errors(tmp_path):
    from PIL import Image

    path = save_video(_frames(5), str(tmp_path / 'camera'), fps=10.0, fmt='gif')
    assert path.endswith('camera.gif')
    with Image.open(path) as im:
        assert im.n_frames == 5 and im.size == (64, 36)
    with pytest.raises(ValueError, match='no frames'):
        save_video([], str(tmp_path / 'x'))
    with pytest.raises(ValueError, match="'mp4' or 'gif'"):
        save_video(_frames(2), str(tmp_path / 'x'), fmt='avi')


def test_mosaic_layout():
    views = {n: np.full((2, 3, 3), i, np.uint8) for i, n in enumerate(sum(map(list, MOSAIC), []))}
    m = mosaic(views)
    assert m.shape == (4, 9, 3)
    assert m[0, 3, 0] == 1 and m[2, 0, 0] == 3 and m[3, 8, 0] == 5  # FRONT top middle, BACK_LEFT, BACK_RIGHT
    del views['CAM_BACK']
    assert mosaic(views)[3, 4, 0] == 0  # a missing camera is black


SCRIPT = r"""
import json, sys
import numpy as np
from mmautomot.closed_loop.metadrive.evaluate import evaluate

class Straight:
    def step(self, obs):
        wps = np.array([[3.0 * (i + 1), 0.0] for i in range(6)])
        return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)

cfg = dict(
    agent=dict(sensors=[dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, yaw=-90.0)], dt=0.05),
    driver=dict(type='unused'),
    env=dict(kind='pg', map='S', traffic_density=0.0, num_scenarios=1, start_seed=0,
             camera=dict(width=64, height=36, rig='six')),
    episode=dict(max_steps=20),
)
out = evaluate(cfg, 1, 0, sys.argv[1], progress=False, driver=Straight())
print(json.dumps(out['episodes'][0]))
"""


def test_evaluate_writes_mp4_next_to_metrics(tmp_path):
    pytest.importorskip('metadrive')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('DISPLAY', None)
    env['MMAUTOMOT_CACHE'] = str(tmp_path / 'cache')
    out_dir = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, str(out_dir)], capture_output=True, text=True, env=env, timeout=300
    )
    if proc.returncode != 0 and ('p3headlessgl' in proc.stderr or 'EGL' in proc.stderr):
        pytest.skip(f'headless EGL rendering unavailable here: {proc.stderr.strip().splitlines()[-1]}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    ep = json.loads(proc.stdout.strip().splitlines()[-1])
    assert ep['video'] == osp.join(ep['dir'], 'camera.mp4') and ep['failure'] is None
    ep_dir = out_dir / ep['dir']
    assert (ep_dir / 'record.json').is_file() and (ep_dir / 'bev.png').is_file()
    frames = _read_mp4(str(out_dir / ep['video']))
    assert len(frames) == 10  # 20 ticks, every second one
    assert frames[0].shape == (72, 192, 3)  # the 3 x 2 mosaic of 64 x 36 views
    assert float(frames[-1].std()) > 5


SCENARIO_SCRIPT = r"""
import json, sys
import mmengine
import numpy as np
from mmautomot.closed_loop.metadrive.evaluate import evaluate

class Straight:
    def step(self, obs):
        wps = np.array([[3.0 * (i + 1), 0.0] for i in range(6)])
        return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)

frames = []
for k in range(11):  # ego east along y = 148.25; a pedestrian 10 m ahead on the sidewalk, walking along
    pose = np.eye(4)
    pose[:2, 3] = 110.0 + 5.0 * k, 148.25
    ped = dict(bbox_3d=[10.0, -5.0, 0.9, 0.6, 0.6, 1.8, 0.0], bbox_label_3d=8, velocity=[0.0, 0.0],
               instance_token='ped1')
    frames.append(dict(token=f's{k}', scene_token='sc', timestamp=10.0 + 0.5 * k, ego2global=pose, instances=[ped]))
info = sys.argv[1] + '/infos.pkl'
mmengine.dump(dict(metainfo=dict(categories=dict(car=0, pedestrian=8), version='t'), data_list=frames), info)
cfg = dict(
    agent=dict(sensors=[dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, yaw=-90.0)], dt=0.05),
    driver=dict(type='unused'),
    env=dict(kind='scenario', info_file=info, lights=dict(cycle=(10.0, 2.0)), camera=dict(width=64, height=36)),
    episode=dict(max_steps=10),
)
out = evaluate(cfg, 1, 0, sys.argv[1] + '/out', progress=False, driver=Straight())
print(json.dumps(out['episodes'][0]))
"""


def test_scenario_env_renders_pedestrians_and_lights_into_mp4(tmp_path):
    """Converted scene with a (placeholder, unanimated) pedestrian and traffic lights, front camera: renders."""
    pytest.importorskip('metadrive')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('DISPLAY', None)
    env['MMAUTOMOT_CACHE'] = str(tmp_path / 'cache')
    proc = subprocess.run(
        [sys.executable, '-c', SCENARIO_SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    if proc.returncode != 0 and ('p3headlessgl' in proc.stderr or 'EGL' in proc.stderr):
        pytest.skip(f'headless EGL rendering unavailable here: {proc.stderr.strip().splitlines()[-1]}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    ep = json.loads(proc.stdout.strip().splitlines()[-1])
    assert ep['failure'] is None and ep['steps'] == 10
    frames = _read_mp4(str(tmp_path / 'out' / ep['video']))
    assert len(frames) == 5 and frames[0].shape == (36, 64, 3)
