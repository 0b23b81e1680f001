# Copyright (c) mmautomot contributors. All rights reserved.
"""Readers for the raw CARLA dataset layouts: Bench2Drive (Think2Drive) and PDM-Lite.

Both produce the same normalised per-frame record (right-handed world = CARLA world with y flipped;
yaw radians CCW; see :mod:`mmautomot.structures.geometry`)::

    dict(frame=int, ego_xyz=(3,), ego_yaw=float, speed=float m/s, command=int (our 6-way index),
         target_world=(2,) | None, target_ego=(2,) | None, boxes=[dict(id, label, center (3,) world,
         size (l, w, h), yaw, speed, num_points)], images={cam: relpath}, lidar=relpath | None)

**Bench2Drive** ``<route>/anno/00000.json.gz``, ``camera/rgb_front/00000.jpg`` (6 cameras),
``lidar/00000.laz`` (or ``.npy`` / ``.bin``). Used anno keys: the ego pose from the ego box's
``world2ego`` (inverted; the ego box has class ``'ego_vehicle'``), else ``x``, ``y`` and ``theta`` read
as the IMU compass; ``speed``; ``command_near`` + ``x/y_command_near`` (``target='near'``) or
``command_far`` + ``x/y_command_far`` (``'far'``); boxes from ``bounding_boxes`` (``center`` or
``location``, ``extent`` = half sizes, yaw from the ``world2<...>`` matrix else the last entry of
``rotation`` in degrees).

**PDM-Lite** ``<route>/measurements/0000.json.gz``, ``rgb/0000.jpg``, ``lidar/0000.laz|npy|bin``,
``boxes/0000.json.gz``. Used keys: ``ego_matrix`` (CARLA 4x4 vehicle->world) else ``pos_global`` +
``theta`` (compass), ``speed``, ``command``, ``target_point`` (CARLA ego frame, y right); boxes'
``position`` (CARLA ego frame), ``extent`` (half sizes), ``yaw`` (rad, CARLA, relative to the ego).
"""

import gzip
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional

import numpy as np

from mmautomot.structures import carla_command_to_index
from mmautomot.structures.geometry import carla_matrix_to_pose, carla_xy_to_rh, compass_to_yaw, ego_to_world, wrap_angle

from .rig import B2D_CAMERA_RIG, PDM_CAMERA_RIG

CLASSES = (
    'car',
    'truck',
    'construction_vehicle',
    'bus',
    'trailer',
    'barrier',
    'motorcycle',
    'bicycle',
    'pedestrian',
    'traffic_cone',
)
_BASE_TYPE = dict(car='car', van='car', truck='truck', bus='bus', motorcycle='motorcycle', bicycle='bicycle')
LIDAR_EXTS = ('.npy', '.bin', '.laz')


def load_json(path: str):
    """Read ``.json`` or ``.json.gz``."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt') as f:
        return json.load(f)


def _frames(folder: str) -> Dict[int, str]:
    out = {}
    for name in os.listdir(folder):
        m = re.match(r'^(\d+)\.json(\.gz)?$', name)
        if m:
            out[int(m.group(1))] = name
    return out


def _find_file(route_dir: str, sub: str, stem: str, exts) -> Optional[str]:
    for ext in exts:
        rel = osp.join(sub, stem + ext)
        if osp.isfile(osp.join(route_dir, rel)):
            return rel
    return None


def _label(box: dict) -> Optional[int]:
    cls = str(box.get('class', ''))
    type_id = str(box.get('type_id', ''))
    if cls in ('walker', 'pedestrian'):
        return CLASSES.index('pedestrian')
    if cls in ('vehicle', 'car', 'static_car'):
        base = str(box.get('base_type', 'car')).lower()
        return CLASSES.index(_BASE_TYPE.get(base, 'car'))
    if 'cone' in type_id or cls == 'traffic_cone':
        return CLASSES.index('traffic_cone')
    if 'barrier' in type_id or 'warning' in type_id or cls == 'barrier':
        return CLASSES.index('barrier')
    return None


def _matrix_yaw_inv(world2obj) -> Optional[float]:
    m = np.asarray(world2obj, dtype=np.float64)
    if m.shape != (4, 4):
        return None
    return carla_matrix_to_pose(np.linalg.inv(m))[1]


def detect_layout(route_dir: str) -> Optional[str]:
    """'bench2drive' (has ``anno/``), 'pdm_lite' (has ``measurements/``) or None."""
    if osp.isdir(osp.join(route_dir, 'anno')):
        return 'bench2drive'
    if osp.isdir(osp.join(route_dir, 'measurements')):
        return 'pdm_lite'
    return None


def find_routes(root: str) -> List[str]:
    """Route folders under ``root`` (any depth), sorted, relative to ``root``."""
    routes = []
    for dirpath, dirnames, _ in os.walk(root):
        if detect_layout(dirpath):
            routes.append(osp.relpath(dirpath, root))
            dirnames[:] = []
        else:
            dirnames.sort()
    return sorted(routes)


def read_b2d_route(root: str, route: str, target: str = 'near') -> List[dict]:
    """Normalised frames of one Bench2Drive route (see the module docstring)."""
    rdir = osp.join(root, route)
    frames = _frames(osp.join(rdir, 'anno'))
    out = []
    for idx in sorted(frames):
        path = osp.join(rdir, 'anno', frames[idx])
        try:
            anno = load_json(path)
            boxes = anno.get('bounding_boxes', [])
            ego = next((b for b in boxes if b.get('class') == 'ego_vehicle'), None)
            if ego is not None and 'world2ego' in ego:
                xyz, yaw = carla_matrix_to_pose(np.linalg.inv(np.asarray(ego['world2ego'], float)))
            else:
                z = float(ego['location'][2]) if ego is not None and 'location' in ego else 0.0
                xyz = np.array([float(anno['x']), -float(anno['y']), z])
                yaw = compass_to_yaw(float(anno['theta']))
            tx, ty = float(anno[f'x_command_{target}']), float(anno[f'y_command_{target}'])
            rec = dict(
                frame=idx,
                ego_xyz=xyz,
                ego_yaw=yaw,
                speed=float(anno.get('speed') or 0.0),
                command=carla_command_to_index(int(anno[f'command_{target}'])),
                target_world=carla_xy_to_rh([tx, ty]),
                target_ego=None,
                boxes=[],
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f'{path}: malformed Bench2Drive annotation ({err!r})') from err
        for b in boxes:
            label = _label(b)
            if label is None or b.get('class') == 'ego_vehicle':
                continue
            center = b.get('center', b.get('location'))
            mat_key = next((k for k in b if k.startswith('world2')), None)
            byaw = _matrix_yaw_inv(b[mat_key]) if mat_key else None
            if byaw is None:
                byaw = float(wrap_angle(-np.radians(float(b.get('rotation', [0.0])[-1]))))
            rec['boxes'].append(
                dict(
                    id=str(b.get('id')),
                    label=label,
                    center=carla_xy_to_rh(np.asarray(center, float)),
                    size=2.0 * np.asarray(b['extent'], float),
                    yaw=float(byaw),
                    speed=float(b.get('speed') or 0.0),
                    num_points=int(b.get('num_points', -1)),
                )
            )
        rec['images'] = {}
        for cam, mount in B2D_CAMERA_RIG.items():
            rel = osp.join('camera', mount['folder'], f'{idx:05d}.jpg')
            if osp.isfile(osp.join(rdir, rel)):
                rec['images'][cam] = osp.join(route, rel)
        lid = _find_file(rdir, 'lidar', f'{idx:05d}', LIDAR_EXTS)
        rec['lidar'] = osp.join(route, lid) if lid else None
        out.append(rec)
    return out


def read_pdm_route(root: str, route: str) -> List[dict]:
    """Normalised frames of one PDM-Lite route (see the module docstring)."""
    rdir = osp.join(root, route)
    frames = _frames(osp.join(rdir, 'measurements'))
    out = []
    for idx in sorted(frames):
        path = osp.join(rdir, 'measurements', frames[idx])
        stem = frames[idx].split('.')[0]
        try:
            meas = load_json(path)
            if 'ego_matrix' in meas:
                xyz, yaw = carla_matrix_to_pose(meas['ego_matrix'])
            else:
                p = meas['pos_global']
                xyz = np.array([float(p[0]), -float(p[1]), 0.0])
                yaw = compass_to_yaw(float(meas['theta']))
            tp = carla_xy_to_rh(np.asarray(meas['target_point'], float)[:2])
            rec = dict(
                frame=idx,
                ego_xyz=xyz,
                ego_yaw=yaw,
                speed=float(meas.get('speed') or 0.0),
                command=carla_command_to_index(int(meas['command'])),
                target_ego=tp,
                target_world=ego_to_world(tp, xyz[:2], yaw)[0],
                boxes=[],
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f'{path}: malformed PDM-Lite measurement ({err!r})') from err
        box_file = _find_file(rdir, 'boxes', stem, ('.json.gz', '.json'))
        for b in load_json(osp.join(rdir, box_file)) if box_file else []:
            label = _label(b)
            if label is None or b.get('class') == 'ego_car':
                continue
            pos = carla_xy_to_rh(np.asarray(b['position'], float))
            cxy = ego_to_world(pos[:2], xyz[:2], yaw)[0]
            rec['boxes'].append(
                dict(
                    id=str(b.get('id')),
                    label=label,
                    center=np.array([cxy[0], cxy[1], xyz[2] + pos[2]]),
                    size=2.0 * np.asarray(b['extent'], float),
                    yaw=float(wrap_angle(yaw - float(b['yaw']))),
                    speed=float(b.get('speed') or 0.0),
                    num_points=int(b.get('num_points', -1)),
                )
            )
        rec['images'] = {}
        for cam, mount in PDM_CAMERA_RIG.items():
            rel = osp.join(mount['folder'], f'{stem}.jpg')
            if osp.isfile(osp.join(rdir, rel)):
                rec['images'][cam] = osp.join(route, rel)
        lid = _find_file(rdir, 'lidar', stem, LIDAR_EXTS)
        rec['lidar'] = osp.join(route, lid) if lid else None
        out.append(rec)
    return out
