# Copyright (c) mmautomot contributors. All rights reserved.
"""Expert data from MetaDrive: the IDM policy drives, the same sensors are recorded in the PDM-Lite layout.

Each episode becomes a route folder ``<out>/seed_<s>/`` with ``measurements/0000.json.gz``,
``rgb/0000.jpg`` (with a camera), ``lidar/0000.npy`` and ``boxes/0000.json.gz``, the raw layout
:func:`mmautomot.datasets.bench2drive.create_bench2drive_infos` (``tools/create_data.py bench2drive``)
converts into info pkls; :func:`collect` runs that conversion too, so the output is the toolbox's
dataset format (info pkl + sensor files). Frames are written every ``every`` control ticks.

Conventions of the written files (PDM-Lite, CARLA frames): ``pos_global`` = CARLA world (x, y) (our
right-handed y flipped), ``theta`` = the IMU compass, ``command`` = CARLA RoadOption of the route planner
(the same :class:`~mmautomot.closed_loop.RoutePlanner` the agent uses), ``target_point`` = its target
in the CARLA ego frame (y right); boxes: ``position`` in the CARLA ego frame, ``extent`` half sizes,
``yaw`` = ego yaw - object yaw (CARLA, rad); LiDAR in the CARLA sensor frame of the rig's LiDAR.
"""

import gzip
import json
import os
import os.path as osp
from typing import Callable, Optional

import cv2
import numpy as np

from mmautomot.structures.geometry import wrap_angle

from ..route_planner import RoutePlanner
from .adapter import make_env
from .episode import closed_loop_env_overrides
from .sensors import MetaDriveSensors, route_from_navigation, yaw_to_compass

_ROAD_OPTION_OF_INDEX = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6}


def _object_label(obj) -> Optional[str]:
    name = type(obj).__name__.lower()
    if 'pedestrian' in name:
        return 'walker'
    if 'cone' in name:
        return 'traffic_cone'
    if 'vehicle' in name or hasattr(obj, 'navigation'):
        return 'car'
    if 'barrier' in name or 'warning' in name or 'triangle' in name:
        return 'barrier'
    return None


def _boxes(env, ego, radius: float = 50.0) -> list:
    xy = np.asarray(ego.position, float)[:2]
    yaw = float(ego.heading_theta)
    c, s = np.cos(yaw), np.sin(yaw)
    out = []
    for oid, obj in env.engine.get_objects().items():
        if obj is ego:
            continue
        label = _object_label(obj)
        if label is None:
            continue
        pos = np.asarray(obj.position, float)[:2]
        if np.linalg.norm(pos - xy) > radius:
            continue
        d = pos - xy
        local = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
        try:
            length, width = float(obj.LENGTH), float(obj.WIDTH)
            height = float(getattr(obj, 'HEIGHT', 1.5) or 1.5)
        except (NotImplementedError, AttributeError, TypeError):
            continue
        box = {
            'class': label,
            'id': str(oid),
            'position': [float(local[0]), float(-local[1]), height / 2],
            'extent': [length / 2, width / 2, height / 2],
            'yaw': float(wrap_angle(yaw - float(obj.heading_theta))),
            'speed': float(getattr(obj, 'speed', 0.0)),
        }
        if label == 'traffic_cone':
            box['type_id'] = 'static.prop.trafficcone'
        out.append(box)
    return out


def _dump_gz(path: str, obj) -> None:
    with gzip.open(path, 'wt') as f:
        json.dump(obj, f)


def collect_episode(
    env,
    seed: int,
    route_dir: str,
    every: int = 2,
    max_steps: int = 600,
    dt: float = 0.05,
    route_cfg: Optional[dict] = None,
    on_tick: Optional[Callable[[int, dict], None]] = None,
) -> dict:
    """Let MetaDrive's IDM expert drive one episode and write its frames. Returns a small summary.

    ``on_tick(step, input_data)``, when given, sees every tick's leaderboard-style sensor data before the
    frame is written (e.g. a closed-loop agent replaying the expert's drive, to compare its observations
    with the written dataset).
    """
    obs, _ = env.reset(seed=int(seed))
    ego = env.agent
    sensors = MetaDriveSensors(env, dt=dt)
    sensors.set_observation(obs)
    points, options, _ = route_from_navigation(ego.navigation)
    planner = RoutePlanner(**(route_cfg or {}))
    planner.set_route_world(points, options)
    for sub in ('measurements', 'lidar', 'boxes', 'rgb'):
        os.makedirs(osp.join(route_dir, sub), exist_ok=True)
    n, info, step = 0, {}, 0
    for step in range(int(max_steps)):
        data = sensors.read()
        xy, yaw = sensors.last_pose
        route = planner.run_step(xy, yaw)
        if on_tick is not None:
            on_tick(step, data)
        if step % every == 0:
            stem = f'{n:04d}'
            tp = np.asarray(route['target_point'], float)
            _dump_gz(
                osp.join(route_dir, 'measurements', f'{stem}.json.gz'),
                dict(
                    pos_global=[float(xy[0]), float(-xy[1])],
                    theta=yaw_to_compass(yaw),
                    speed=float(ego.speed),
                    command=_ROAD_OPTION_OF_INDEX[int(route['command'])],
                    target_point=[float(tp[0]), float(-tp[1])],
                    seed=int(seed),
                    tick=step,
                ),
            )
            np.save(osp.join(route_dir, 'lidar', f'{stem}.npy'), data['LIDAR'][1])
            _dump_gz(osp.join(route_dir, 'boxes', f'{stem}.json.gz'), _boxes(env, ego))
            if 'CAM_FRONT' in data:
                cv2.imwrite(
                    osp.join(route_dir, 'rgb', f'{stem}.jpg'),
                    data['CAM_FRONT'][1][:, :, :3],
                    [int(cv2.IMWRITE_JPEG_QUALITY), 95],
                )
            n += 1
        obs, _, term, trunc, info = env.step([0.0, 0.0])  # the IDM policy ignores the action
        sensors.set_observation(obs)
        if info.get('arrive_dest') or term or trunc:
            break
    return dict(
        seed=int(seed),
        frames=n,
        ticks=step + 1,
        arrive_dest=bool(info.get('arrive_dest', False)),
        crash=bool(info.get('crash', False)),
        route_completion=float(info.get('route_completion', 0.0)),
    )


def collect(
    out_dir: str,
    episodes: int,
    seed: int = 0,
    camera: Optional[dict] = None,
    every: int = 2,
    max_steps: int = 600,
    env_cfg: Optional[dict] = None,
    val_ratio: float = 0.2,
    dt: float = 0.05,
    progress: bool = True,
) -> dict:
    """Collect ``episodes`` expert episodes (seeds ``seed ..``) into ``out_dir`` and write the info pkls.

    Returns:
        dict: ``episodes`` (per-episode summaries) and ``infos`` (``{'train': pkl, 'val': pkl}``).
    """
    from metadrive.policy.idm_policy import IDMPolicy

    from mmautomot.datasets.bench2drive.converter import create_bench2drive_infos

    env_cfg = {**dict(map=3, traffic_density=0.1), **(env_cfg or {})}
    env_cfg.update(start_seed=int(seed), num_scenarios=int(episodes), agent_policy=IDMPolicy)
    env = make_env('pg', camera=camera, **{**closed_loop_env_overrides(dt), **env_cfg})
    summaries = []
    it = range(int(seed), int(seed) + int(episodes))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc='MetaDrive expert episodes', unit='ep')
    try:
        for s in it:
            summaries.append(collect_episode(env, s, osp.join(out_dir, f'seed_{s:04d}'), every, max_steps, dt))
    finally:
        env.close()
    rig = None
    if camera is not None:
        rig = dict(
            CAM_FRONT=dict(
                folder='rgb',
                x=0.8,
                y=0.0,
                z=1.5,
                yaw=0.0,
                width=int(camera['width']),
                height=int(camera['height']),
                fov=float(camera.get('fov', 60.0)),
            )
        )
    infos = create_bench2drive_infos(
        out_dir,
        out_dir,
        info_prefix='metadrive',
        layout='pdm_lite',
        val_ratio=val_ratio,
        fps=1.0 / (dt * every),
        camera_rig=rig,
    )
    with open(osp.join(out_dir, 'collection.json'), 'w') as f:
        json.dump(dict(episodes=summaries, seed=seed, every=every, dt=dt, camera=camera), f, indent=1)
    return dict(episodes=summaries, infos=infos)
