# Copyright (c) mmautomot contributors. All rights reserved.
"""Write a small synthetic dataset in the exact nuScenes v1.0 schema (tables, sensor files, CAN bus).

The output loads with nuscenes-devkit's ``NuScenes(version, dataroot)`` and converts with
``tools/create_data.py nuscenes`` like the real dataset. Everything is derived from a seed, so the same
arguments give byte-identical files.
"""

import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from mmengine.utils import track_iter_progress

from .render import box_corners, cast_lidar, lidar_rays, render_camera
from .scenario import build_scene
from .sensors import CAM_NAMES, camera_rig, ego2global, lidar2ego, quat_from_matrix, yaw_quat
from .simulation import Trajectories, simulate
from .tables import scene_names, static_tables, token
from .world import RoadGrid

ANNOTATION_RADIUS = 50.0
BOX_INTENSITY = {
    'vehicle.car': 35.0,
    'vehicle.truck': 30.0,
    'human.pedestrian.adult': 14.0,
    'movable_object.trafficcone': 90.0,
    'movable_object.barrier': 60.0,
}
BASE_TIMESTAMP = 1533151603547590  # 2018-08-01, microseconds


@dataclass
class SyntheticNuScenesConfig:
    """Size and rates of the synthetic dataset.

    Args:
        version (str): 'v1.0-mini', 'v1.0-trainval' or 'v1.0-test' (picks official scene names).
        num_scenes (int): number of scenes. Defaults to 10.
        num_keyframes (int): keyframes (2 Hz samples) per scene. Defaults to 16.
        seed (int): random seed. Defaults to 0.
        image_size (tuple): camera image (width, height). Defaults to (320, 180).
        sim_hz (int): simulation rate; also the CAN bus pose rate. Defaults to 20.
        lidar_hz (int): LiDAR rate (keyframes are every ``lidar_hz / 2``-th sweep). Defaults to 10.
        camera_hz (int): camera rate. Defaults to 4.
        azimuth_step (float): LiDAR azimuth resolution in degrees (32 rings). Defaults to 5.
        can_bus (bool): write ``can_bus/scene-XXXX_pose.json`` and ``_vehicle_monitor.json``.
    """

    version: str = 'v1.0-mini'
    num_scenes: int = 10
    num_keyframes: int = 16
    seed: int = 0
    image_size: Tuple[int, int] = (320, 180)
    sim_hz: int = 20
    lidar_hz: int = 10
    camera_hz: int = 4
    azimuth_step: float = 5.0
    can_bus: bool = True

    def __post_init__(self):
        for name in ('lidar_hz', 'camera_hz'):
            hz = getattr(self, name)
            if self.sim_hz % hz or hz % 2:
                raise ValueError(f'{name}={hz} must be even and divide sim_hz={self.sim_hz}')
        if self.num_keyframes < 2:
            raise ValueError(f'num_keyframes must be >= 2, got {self.num_keyframes}')


def make_synthetic_nuscenes(
    out_dir: str, cfg: Optional[SyntheticNuScenesConfig] = None, verbose: bool = True
) -> Dict[str, int]:
    """Generate the dataset under ``out_dir`` (tables in ``out_dir/<version>/``).

    Returns:
        dict: number of records per table.
    """
    cfg = cfg or SyntheticNuScenesConfig()
    grid = RoadGrid()
    tables = static_tables(cfg.seed, CAM_NAMES)
    for t in (
        'calibrated_sensor',
        'ego_pose',
        'instance',
        'log',
        'map',
        'sample',
        'sample_annotation',
        'sample_data',
        'scene',
    ):
        tables[t] = []
    names = scene_names(cfg.version, cfg.num_scenes)
    rig = camera_rig(cfg.image_size)
    rays = lidar_rays(cfg.azimuth_step)
    if verbose:
        print(f'Writing {len(names)} synthetic scenes to {out_dir}', flush=True)
    for idx, name in enumerate(track_iter_progress(names) if verbose else names):
        _write_scene(out_dir, cfg, grid, tables, rig, rays, idx, name)
    map_file = f'maps/{token(cfg.seed, "map")}.png'
    os.makedirs(osp.join(out_dir, 'maps'), exist_ok=True)
    cv2.imwrite(osp.join(out_dir, map_file), grid.map_mask())
    tables['map'].append(
        dict(
            category='semantic_prior',
            token=token(cfg.seed, 'map'),
            filename=map_file,
            log_tokens=[log['token'] for log in tables['log']],
        )
    )
    table_dir = osp.join(out_dir, cfg.version)
    os.makedirs(table_dir, exist_ok=True)
    for name, records in tables.items():
        with open(osp.join(table_dir, f'{name}.json'), 'w') as f:
            json.dump(records, f, indent=0)
    return {k: len(v) for k, v in tables.items()}


def _write_scene(
    out_dir: str, cfg: SyntheticNuScenesConfig, grid: RoadGrid, tables: dict, rig: dict, rays, idx: int, name: str
) -> None:
    rng = np.random.default_rng([cfg.seed, idx])
    agents = build_scene(grid, rng, idx)
    dt = 1.0 / cfg.sim_hz
    kf_every = cfg.sim_hz // 2
    pre = kf_every  # 0.5 s of sweeps before the first keyframe
    n_steps = pre + (cfg.num_keyframes - 1) * kf_every + 1
    t = (np.arange(n_steps) - pre) * dt
    traj = simulate(agents, t, np.array([grid.node_xy((i, j)) for i in range(grid.n) for j in range(grid.n)]))
    seed = cfg.seed
    scene_tok = token(seed, name)
    log_tok = token(seed, name, 'log')
    logfile = f'n008-2018-08-01-15-{idx // 60:02d}-{idx % 60:02d}-0400'
    tables['log'].append(
        dict(token=log_tok, logfile=logfile, vehicle='n008', date_captured='2018-08-01', location='boston-seaport')
    )
    t0_us = BASE_TIMESTAMP + idx * 600_000_000
    utime = (t0_us + np.round(t * 1e6)).astype(np.int64)

    # calibrated sensors (one per sensor and scene, as in nuScenes where calibration is per log)
    calib = {}
    for cam in CAM_NAMES:
        calib[cam] = token(seed, name, 'calib', cam)
        c2e = rig[cam]['cam2ego']
        tables['calibrated_sensor'].append(
            dict(
                token=calib[cam],
                sensor_token=token(seed, 'sensor', cam),
                translation=c2e[:3, 3].tolist(),
                rotation=quat_from_matrix(c2e[:3, :3]),
                camera_intrinsic=rig[cam]['intrinsic'].tolist(),
            )
        )
    l2e = lidar2ego()
    calib['LIDAR_TOP'] = token(seed, name, 'calib', 'LIDAR_TOP')
    tables['calibrated_sensor'].append(
        dict(
            token=calib['LIDAR_TOP'],
            sensor_token=token(seed, 'sensor', 'LIDAR_TOP'),
            translation=l2e[:3, 3].tolist(),
            rotation=quat_from_matrix(l2e[:3, :3]),
            camera_intrinsic=[],
        )
    )

    # samples
    kf_steps = list(range(pre, n_steps, kf_every))
    sample_toks = [token(seed, name, 'sample', k) for k in range(len(kf_steps))]
    for k, step in enumerate(kf_steps):
        tables['sample'].append(
            dict(
                token=sample_toks[k],
                timestamp=int(utime[step]),
                prev=sample_toks[k - 1] if k else '',
                next=sample_toks[k + 1] if k + 1 < len(sample_toks) else '',
                scene_token=scene_tok,
            )
        )
    tables['scene'].append(
        dict(
            token=scene_tok,
            log_token=log_tok,
            nbr_samples=len(kf_steps),
            first_sample_token=sample_toks[0],
            last_sample_token=sample_toks[-1],
            name=name,
            description=_describe(idx),
        )
    )

    # sensor data
    ego = traj.xy[:, 0], traj.yaw[:, 0]
    movers = list(range(1, len(agents)))
    static_boxes = [a.wlh for a in agents]
    box_intens = np.array([BOX_INTENSITY.get(a.category, 30.0) for a in agents[1:]])
    lidar_counts = {}
    for channel in CAM_NAMES + ('LIDAR_TOP',):
        hz = cfg.lidar_hz if channel == 'LIDAR_TOP' else cfg.camera_hz
        steps = list(range(0, n_steps, cfg.sim_hz // hz))
        sd_toks = [token(seed, name, channel, s) for s in steps]
        for n, step in enumerate(steps):
            key = step in kf_steps
            kf_idx = min(int(np.ceil((step - pre) / kf_every)), len(kf_steps) - 1)
            kf_idx = max(kf_idx, 0)
            folder = 'samples' if key else 'sweeps'
            ext = '.pcd.bin' if channel == 'LIDAR_TOP' else '.jpg'
            fname = f'{folder}/{channel}/{logfile}__{channel}__{utime[step]}{ext}'
            e2g = ego2global(ego[0][step, 0], ego[0][step, 1], ego[1][step])
            if channel == 'LIDAR_TOP':
                boxes = np.array([[*traj.xy[step, i], 0.0, *static_boxes[i], traj.yaw[step, i]] for i in movers])
                pts, counts = cast_lidar(
                    grid, boxes, box_intens, e2g @ l2e, rays, np.random.default_rng([seed, idx, step])
                )
                if key:
                    lidar_counts[step] = counts
                _save(osp.join(out_dir, fname), pts.tobytes())
            else:
                draw = [
                    (box_corners(traj.xy[step, i], traj.yaw[step, i], agents[i].wlh), agents[i].color) for i in movers
                ]
                img = render_camera(
                    grid, draw, e2g @ rig[channel]['cam2ego'], rig[channel]['intrinsic'], cfg.image_size
                )
                ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 90])
                _save(osp.join(out_dir, fname), buf.tobytes())
            tables['ego_pose'].append(
                dict(
                    token=sd_toks[n],
                    timestamp=int(utime[step]),
                    rotation=yaw_quat(ego[1][step]),
                    translation=[float(ego[0][step, 0]), float(ego[0][step, 1]), 0.0],
                )
            )
            w, h = cfg.image_size if channel != 'LIDAR_TOP' else (0, 0)
            tables['sample_data'].append(
                dict(
                    token=sd_toks[n],
                    sample_token=sample_toks[kf_idx],
                    ego_pose_token=sd_toks[n],
                    calibrated_sensor_token=calib[channel],
                    timestamp=int(utime[step]),
                    fileformat='pcd' if channel == 'LIDAR_TOP' else 'jpg',
                    is_key_frame=key,
                    height=h,
                    width=w,
                    filename=fname,
                    prev=sd_toks[n - 1] if n else '',
                    next=sd_toks[n + 1] if n + 1 < len(steps) else '',
                )
            )
    _write_annotations(tables, agents, traj, kf_steps, sample_toks, lidar_counts, seed, name)
    if cfg.can_bus:
        _write_can_bus(out_dir, name, traj, utime)


def _describe(idx: int) -> str:
    from .scenario import SCRIPTS

    if idx < len(SCRIPTS):
        s = SCRIPTS[idx]
        text = [f'turn {s["turn"]}' if s['turn'] != 'straight' else 'drive straight']
        if s['lead']:
            text.append(f'{s["lead"]} lead car')
        if s['ped_cross']:
            text.append('ped crossing')
        return 'Synthetic, ' + ', '.join(text)
    return 'Synthetic, random traffic'


def _save(path: str, data: bytes) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def _write_annotations(
    tables: dict,
    agents,
    traj: Trajectories,
    kf_steps: List[int],
    sample_toks: List[str],
    lidar_counts: dict,
    seed: int,
    name: str,
) -> None:
    cat_tok = {c['name']: c['token'] for c in tables['category']}
    attr_tok = {a['name']: a['token'] for a in tables['attribute']}
    ego_xy = traj.xy[kf_steps, 0]
    for i in range(1, len(agents)):
        a = agents[i]
        near = np.linalg.norm(traj.xy[kf_steps, i] - ego_xy, axis=1) < ANNOTATION_RADIUS
        if not near.any():
            continue
        ks = list(range(int(np.flatnonzero(near)[0]), int(np.flatnonzero(near)[-1]) + 1))
        inst = token(seed, name, 'instance', i)
        ann_toks = [token(seed, name, 'ann', i, k) for k in ks]
        for n, k in enumerate(ks):
            step = kf_steps[k]
            v = traj.speed[step, i]
            if a.category.startswith('vehicle'):
                attr = 'vehicle.parked' if a.kind == 'static' else ('vehicle.moving' if v > 0.5 else 'vehicle.stopped')
            elif a.category.startswith('human'):
                attr = 'pedestrian.moving' if v > 0.3 else 'pedestrian.standing'
            else:
                attr = None
            pts = int(lidar_counts[step][i - 1])
            vis = '4' if pts >= 20 else '3' if pts >= 8 else '2' if pts >= 1 else '1'
            tables['sample_annotation'].append(
                dict(
                    token=ann_toks[n],
                    sample_token=sample_toks[k],
                    instance_token=inst,
                    visibility_token=vis,
                    attribute_tokens=[attr_tok[attr]] if attr else [],
                    translation=[float(traj.xy[step, i, 0]), float(traj.xy[step, i, 1]), a.wlh[2] / 2],
                    size=list(a.wlh),
                    rotation=yaw_quat(traj.yaw[step, i]),
                    prev=ann_toks[n - 1] if n else '',
                    next=ann_toks[n + 1] if n + 1 < len(ks) else '',
                    num_lidar_pts=pts,
                    num_radar_pts=0,
                )
            )
        tables['instance'].append(
            dict(
                token=inst,
                category_token=cat_tok[a.category],
                nbr_annotations=len(ks),
                first_annotation_token=ann_toks[0],
                last_annotation_token=ann_toks[-1],
            )
        )


def _write_can_bus(out_dir: str, name: str, traj: Trajectories, utime: np.ndarray) -> None:
    """``can_bus/<scene>_pose.json`` (every simulation step) and ``_vehicle_monitor.json`` (2 Hz)."""
    dt = float(traj.t[1] - traj.t[0])
    yaw = np.unwrap(traj.yaw[:, 0])
    yaw_rate = np.gradient(yaw, dt)
    v, acc, xy = traj.speed[:, 0], traj.acc[:, 0], traj.xy[:, 0]
    pose = [
        dict(
            utime=int(utime[k]),
            pos=[float(xy[k, 0]), float(xy[k, 1]), 0.0],
            orientation=yaw_quat(yaw[k]),
            vel=[float(v[k]), 0.0, 0.0],
            accel=[float(acc[k]), float(v[k] * yaw_rate[k]), 9.81],
            rotation_rate=[0.0, 0.0, float(yaw_rate[k])],
        )
        for k in range(len(utime))
    ]
    every = int(round(0.5 / dt))
    monitor = []
    for k in range(0, len(utime), every):
        steer = float(np.degrees(np.arctan2(2.7 * yaw_rate[k], max(v[k], 0.5))) * 15.0)
        monitor.append(
            dict(
                available_distance=200,
                battery_level=80,
                brake=int(max(-acc[k], 0.0) * 20),
                brake_switch=3 if acc[k] < -0.2 else 1,
                gear_position=7,
                left_signal=int(steer > 60),
                rear_left_rpm=float(v[k] / 0.31 * 60 / (2 * np.pi)),
                rear_right_rpm=float(v[k] / 0.31 * 60 / (2 * np.pi)),
                right_signal=int(steer < -60),
                steering=steer,
                steering_speed=0.0,
                throttle=int(max(acc[k], 0.0) * 60),
                utime=int(utime[k]),
                vehicle_speed=float(v[k] * 3.6),
                yaw_rate=float(np.degrees(yaw_rate[k])),
            )
        )
    for suffix, msgs in (('pose', pose), ('vehicle_monitor', monitor)):
        _save(osp.join(out_dir, 'can_bus', f'{name}_{suffix}.json'), json.dumps(msgs).encode())
