# Copyright (c) mmautomot contributors. All rights reserved.
"""Small synthetic routes in the Bench2Drive (or PDM-Lite) layout, for tests and the demo.

Each route: the ego drives straight at ``speed`` m/s, then turns left (constant yaw rate); two cars
drive at constant velocity nearby and a pedestrian stands on the side. Cameras are small JPEGs,
LiDAR clouds ``.npy`` in the CARLA (left-handed) sensor frame; annotations use the keys the readers in
:mod:`mmautomot.datasets.bench2drive.layout` document.
"""

import gzip
import json
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np

from mmautomot.structures.geometry import ego_to_world, lidar_mount_matrix, world_to_ego

from .rig import B2D_CAMERA_RIG, B2D_LIDAR_MOUNT, PDM_LIDAR_MOUNT

LEFT, LANEFOLLOW = 1, 4  # CARLA RoadOption values


def _write_json_gz(path: str, obj) -> None:
    with gzip.open(path, 'wt') as f:
        json.dump(obj, f)


def _carla_matrix(xy_rh, yaw_rh, z=0.0) -> list:
    """Right-handed pose -> CARLA (left-handed) 4x4 local->world matrix as nested lists."""
    psi = -yaw_rh
    c, s = np.cos(psi), np.sin(psi)
    return [[c, -s, 0, float(xy_rh[0])], [s, c, 0, float(-xy_rh[1])], [0, 0, 1, z], [0, 0, 0, 1]]


def simulate_route(num_frames: int, fps: float, rng: np.random.Generator, speed: float = 5.0) -> dict:
    """Ego and agent states (right-handed world) for ``num_frames`` frames."""
    t = np.arange(num_frames + int(3 * fps)) / fps  # extra frames for targets past the end
    turn_start = t[num_frames // 2]
    yaw0 = rng.uniform(-np.pi, np.pi)
    start = rng.uniform(-100, 100, size=2)
    yaw_rate = 0.25
    yaw = yaw0 + np.where(t > turn_start, (t - turn_start) * yaw_rate, 0.0)
    xy = np.zeros((len(t), 2))
    xy[0] = start
    for k in range(1, len(t)):
        xy[k] = xy[k - 1] + speed / fps * np.array([np.cos(yaw[k - 1]), np.sin(yaw[k - 1])])
    agents = []
    for k, (lon, lat, v) in enumerate([(12.0, 3.5, 4.0), (25.0, -3.5, 6.0)]):
        p0 = ego_to_world([[lon, lat]], start, yaw0)[0]
        d = np.array([np.cos(yaw0), np.sin(yaw0)])
        agents.append(
            dict(
                id=str(100 + k),
                label='car',
                xy=p0 + np.outer(t, d * v),
                yaw=np.full(len(t), yaw0),
                speed=v,
                extent=[2.2, 0.95, 0.75],
            )
        )
    ped = ego_to_world([[18.0, 6.0]], start, yaw0)[0]
    agents.append(
        dict(
            id='200',
            label='walker',
            xy=np.tile(ped, (len(t), 1)),
            yaw=np.full(len(t), yaw0),
            speed=0.0,
            extent=[0.3, 0.3, 0.9],
        )
    )
    command = np.where(t >= turn_start - 1.0, LEFT, LANEFOLLOW)
    return dict(t=t, xy=xy, yaw=yaw, speed=speed, agents=agents, command=command, n=num_frames)


def _image(h: int, w: int, frame: int, cam_idx: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None]
    img[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img[..., 2] = (40 * cam_idx) % 256
    x0 = (frame * 3) % max(1, w - 8)
    img[h // 3 : h // 3 + 8, x0 : x0 + 8] = 255
    return img


def _lidar(sim: dict, k: int, mount: dict, rng) -> np.ndarray:
    """Ground ring + agent box points in the ego frame -> CARLA left-handed sensor frame."""
    ang = rng.uniform(0, 2 * np.pi, 1500)
    rad = rng.uniform(3, 40, 1500)
    pts = [np.stack([rad * np.cos(ang), rad * np.sin(ang), np.zeros_like(ang)], 1)]
    for a in sim['agents']:
        c = world_to_ego(a['xy'][k], sim['xy'][k], sim['yaw'][k])[0]
        local = rng.uniform(-1, 1, (100, 3)) * np.array(a['extent']) + np.array([0, 0, a['extent'][2]])
        pts.append(local + np.array([c[0], c[1], 0.0]))
    ego_pts = np.concatenate(pts)
    l2e = lidar_mount_matrix(**mount)
    sensor = (ego_pts - l2e[:3, 3]) @ l2e[:3, :3]  # inverse of a rigid transform
    sensor[:, 1] = -sensor[:, 1]  # right-handed -> CARLA left-handed
    inten = rng.uniform(0, 1, (len(sensor), 1))
    return np.concatenate([sensor, inten], 1).astype(np.float32)


def _target(sim: dict, k: int, fps: float):
    j = min(k + int(2 * fps), len(sim['t']) - 1)
    return sim['xy'][j], int(sim['command'][k])


def write_b2d_route(out: str, name: str, sim: dict, fps: float, image_size, rng) -> None:
    rdir = osp.join(out, name)
    for sub in ['anno', 'lidar'] + [osp.join('camera', c['folder']) for c in B2D_CAMERA_RIG.values()]:
        os.makedirs(osp.join(rdir, sub), exist_ok=True)
    w, h = image_size
    for k in range(sim['n']):
        xy, yaw = sim['xy'][k], sim['yaw'][k]
        tgt, cmd = _target(sim, k, fps)
        far = sim['xy'][min(k + int(3 * fps), len(sim['t']) - 1)]
        boxes = [
            dict(
                **{'class': 'ego_vehicle'},
                id=1,
                location=[xy[0], -xy[1], 0.0],
                rotation=[0.0, 0.0, float(-np.degrees(yaw))],
                extent=[2.45, 1.05, 0.78],
                center=[xy[0], -xy[1], 0.78],
                speed=sim['speed'],
                world2ego=np.linalg.inv(_carla_matrix(xy, yaw)).tolist(),
            )
        ]
        for a in sim['agents']:
            axy, ayaw = a['xy'][k], a['yaw'][k]
            box = dict(
                **{'class': 'vehicle' if a['label'] == 'car' else 'walker'},
                id=int(a['id']),
                location=[axy[0], -axy[1], 0.0],
                rotation=[0.0, 0.0, float(-np.degrees(ayaw))],
                center=[axy[0], -axy[1], a['extent'][2]],
                extent=a['extent'],
                speed=a['speed'],
                num_points=100,
                type_id='vehicle.tesla.model3' if a['label'] == 'car' else 'walker.pedestrian.0001',
            )
            if a['label'] == 'car':
                box.update(base_type='car', world2vehicle=np.linalg.inv(_carla_matrix(axy, ayaw)).tolist())
            boxes.append(box)
        anno = dict(
            x=xy[0],
            y=-xy[1],
            theta=float(np.pi / 2 - yaw),
            speed=sim['speed'],
            command_near=cmd,
            x_command_near=tgt[0],
            y_command_near=-tgt[1],
            command_far=cmd,
            x_command_far=far[0],
            y_command_far=-far[1],
            x_target=tgt[0],
            y_target=-tgt[1],
            throttle=0.5,
            steer=0.0,
            brake=0.0,
            bounding_boxes=boxes,
        )
        _write_json_gz(osp.join(rdir, 'anno', f'{k:05d}.json.gz'), anno)
        for ci, cam in enumerate(B2D_CAMERA_RIG.values()):
            cv2.imwrite(osp.join(rdir, 'camera', cam['folder'], f'{k:05d}.jpg'), _image(h, w, k, ci))
        np.save(osp.join(rdir, 'lidar', f'{k:05d}.npy'), _lidar(sim, k, B2D_LIDAR_MOUNT, rng))


def write_pdm_route(out: str, name: str, sim: dict, fps: float, image_size, rng) -> None:
    rdir = osp.join(out, name)
    for sub in ('measurements', 'boxes', 'lidar', 'rgb'):
        os.makedirs(osp.join(rdir, sub), exist_ok=True)
    w, h = image_size
    for k in range(sim['n']):
        xy, yaw = sim['xy'][k], sim['yaw'][k]
        tgt, cmd = _target(sim, k, fps)
        tp = world_to_ego(tgt, xy, yaw)[0]
        meas = dict(
            pos_global=[xy[0], -xy[1]],
            theta=float(np.pi / 2 - yaw),
            speed=sim['speed'],
            command=cmd,
            target_point=[tp[0], -tp[1]],
            ego_matrix=_carla_matrix(xy, yaw),
        )
        _write_json_gz(osp.join(rdir, 'measurements', f'{k:04d}.json.gz'), meas)
        boxes = [dict(**{'class': 'ego_car'}, extent=[2.45, 1.05, 0.78], position=[0, 0, 0], yaw=0.0)]
        for a in sim['agents']:
            p = world_to_ego(a['xy'][k], xy, yaw)[0]
            boxes.append(
                dict(
                    **{'class': 'car' if a['label'] == 'car' else 'walker'},
                    id=int(a['id']),
                    position=[p[0], -p[1], a['extent'][2]],
                    extent=a['extent'],
                    yaw=float(-(a['yaw'][k] - yaw)),
                    speed=a['speed'],
                    num_points=100,
                )
            )
        _write_json_gz(osp.join(rdir, 'boxes', f'{k:04d}.json.gz'), boxes)
        cv2.imwrite(osp.join(rdir, 'rgb', f'{k:04d}.jpg'), _image(h, w, k, 0))
        np.save(osp.join(rdir, 'lidar', f'{k:04d}.npy'), _lidar(sim, k, PDM_LIDAR_MOUNT, rng))


def make_synthetic_routes(
    out: str,
    num_routes: int = 2,
    seed: int = 0,
    layout: str = 'bench2drive',
    num_frames: Optional[int] = None,
    image_size=(160, 90),
) -> List[str]:
    """Write ``num_routes`` synthetic routes under ``out``; return their folder names.

    Args:
        out (str): output root.
        num_routes (int): number of routes. Defaults to 2.
        seed (int): RNG seed (same seed, same files). Defaults to 0.
        layout (str): 'bench2drive' (10 Hz, 6 cameras) or 'pdm_lite' (4 Hz, front camera).
        num_frames (int, optional): frames per route; default 8 s of data.
        image_size (tuple): (W, H) of the JPEGs. Defaults to (160, 90).
    """
    rng = np.random.default_rng(seed)
    fps = 10.0 if layout == 'bench2drive' else 4.0
    n = num_frames or int(8 * fps)
    names = []
    for r in range(num_routes):
        sim = simulate_route(n, fps, rng)
        if layout == 'bench2drive':
            name = f'SyntheticLeftTurn_Town00_Route{r}_Weather{seed}'
            write_b2d_route(out, name, sim, fps, image_size, rng)
        elif layout == 'pdm_lite':
            name = f'synthetic_pdm_route{r}_seed{seed}'
            write_pdm_route(out, name, sim, fps, image_size, rng)
        else:
            raise ValueError(f"layout must be 'bench2drive' or 'pdm_lite', got {layout!r}")
        names.append(name)
    return names
