# Copyright (c) mmautomot contributors. All rights reserved.
"""Info-pkl converter for the Bench2Drive and PDM-Lite layouts (same info format as nuScenes).

``tools/create_data.py bench2drive --root-path ROOT --out-dir OUT`` calls
:func:`create_bench2drive_infos`, which writes ``{info_prefix}_infos_train.pkl`` and
``{info_prefix}_infos_val.pkl`` (mmdet3d v2 layout, ``docs/contracts.md``).
"""

import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from mmengine.fileio import dump
from mmengine.utils import track_iter_progress

from mmautomot.structures.geometry import lidar_mount_matrix, wrap_angle
from mmautomot.structures.info_format import INFO_VERSION

from .labels import frame_labels, frame_offsets
from .layout import CLASSES, detect_layout, find_routes, read_b2d_route, read_pdm_route
from .rig import B2D_CAMERA_RIG, B2D_LIDAR_MOUNT, PDM_CAMERA_RIG, PDM_LIDAR_MOUNT, camera_entry

DEFAULT_FPS = dict(bench2drive=10.0, pdm_lite=4.0)
PLANNING = dict(
    fut_steps=6, plan_dt=0.5, hist_steps=4, path_points=20, path_spacing=1.0, ue_hist_frames=4, ue_hist_dt=0.5
)


def _pose_matrix(xyz, yaw) -> np.ndarray:
    m = np.eye(4, dtype=np.float32)
    c, s = np.cos(yaw), np.sin(yaw)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = xyz
    return m


def _instances(labels: dict, lidar2ego: np.ndarray, boxes_meta: List[int]) -> List[dict]:
    """mmdet3d v2 instances: boxes in the (right-handed) LiDAR frame, gravity centre (as mmdet3d's nuScenes
    infos: ``LiDARInstance3DBoxes(..., origin=(0.5, 0.5, 0.5))`` reads them)."""
    ego2lidar = np.linalg.inv(lidar2ego.astype(np.float64))
    lidar_yaw = np.arctan2(ego2lidar[1, 0], ego2lidar[0, 0])
    out = []
    for k, box in enumerate(labels['plan_agent_boxes']):
        x, y, zc, l, w, h, yaw = [float(v) for v in box]
        p = ego2lidar @ np.array([x, y, zc, 1.0])
        fut = labels['plan_agent_fut_trajs'][k]
        vel = (fut[0] - box[:2]) / PLANNING['plan_dt'] if labels['plan_agent_fut_masks'][k, 0] else np.zeros(2)
        vel = ego2lidar[:2, :2] @ vel
        out.append(
            dict(
                bbox_3d=[float(p[0]), float(p[1]), float(p[2]), l, w, h, float(wrap_angle(yaw + lidar_yaw))],
                bbox_label_3d=int(labels['plan_agent_labels'][k]),
                velocity=[float(v) for v in vel],
                num_lidar_pts=int(boxes_meta[k]),
                bbox_3d_isvalid=boxes_meta[k] != 0,
            )
        )
    return out


def _actual_size(root: str, frames: List[dict], cam: str, mount: dict) -> dict:
    """The rig entry with width / height of the stored images (same FOV), e.g. for resized copies."""
    first = next((f['images'][cam] for f in frames if cam in f['images']), None)
    if first is None:
        return mount
    img = cv2.imread(osp.join(root, first), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f'{osp.join(root, first)}: unreadable image')
    return dict(mount, width=img.shape[1], height=img.shape[0])


def route_infos(
    root: str,
    route: str,
    layout: str,
    fps: float,
    target: str = 'near',
    max_agent_distance: float = 50.0,
    lidar_mount: Optional[dict] = None,
    camera_rig: Optional[Dict[str, dict]] = None,
) -> List[dict]:
    """Infos of every frame of one route."""
    if layout == 'bench2drive':
        frames = read_b2d_route(root, route, target)
        rig, mount = camera_rig or B2D_CAMERA_RIG, lidar_mount or B2D_LIDAR_MOUNT
    elif layout == 'pdm_lite':
        frames = read_pdm_route(root, route)
        rig, mount = camera_rig or PDM_CAMERA_RIG, lidar_mount or PDM_LIDAR_MOUNT
    else:
        raise ValueError(f"layout must be 'bench2drive' or 'pdm_lite', got {layout!r}")
    lidar2ego = lidar_mount_matrix(**mount).astype(np.float32)
    cams = {
        name: camera_entry(_actual_size(root, frames, name, cam), lidar2ego.astype(np.float64))
        for name, cam in rig.items()
    }
    hist_step = frame_offsets(fps, PLANNING['ue_hist_dt'])
    scene = route.replace(os.sep, '__')
    infos = []
    for i, fr in enumerate(frames):
        ts = fr['frame'] / fps
        token = f'{scene}__{fr["frame"]:05d}'
        labels = frame_labels(
            frames,
            i,
            fps,
            PLANNING['fut_steps'],
            PLANNING['hist_steps'],
            PLANNING['plan_dt'],
            PLANNING['path_points'],
            PLANNING['path_spacing'],
            max_agent_distance,
        )
        near = [b for b in fr['boxes'] if np.hypot(*(b['center'][:2] - fr['ego_xyz'][:2])) <= max_agent_distance]
        info = dict(
            sample_idx=len(infos),
            token=token,
            scene_token=scene,
            timestamp=ts,
            ego2global=_pose_matrix(fr['ego_xyz'], fr['ego_yaw']),
            **labels,
        )
        if fr['lidar'] is not None:
            info['lidar_points'] = dict(
                lidar_path=fr['lidar'], num_pts_feats=4, lidar2ego=lidar2ego, coord_system='carla_left_handed'
            )
        info['lidar_sweeps'] = []
        info['images'] = {
            cam: dict(img_path=path, sample_data_token=f'{token}__{cam}', timestamp=ts, **cams[cam])
            for cam, path in fr['images'].items()
            if cam in cams
        }
        hist = [frames[max(0, i - k * hist_step)] for k in range(PLANNING['ue_hist_frames'] - 1, -1, -1)]
        info['cam_front_hist'] = [
            dict(img_path=h['images']['CAM_FRONT'], timestamp=h['frame'] / fps)
            for h in hist
            if 'CAM_FRONT' in h['images']
        ]
        info['instances'] = _instances(labels, lidar2ego, [b['num_points'] for b in near])
        infos.append(info)
    return infos


def create_bench2drive_infos(
    root: str,
    out_dir: str,
    info_prefix: str = 'bench2drive',
    layout: str = 'auto',
    val_routes: Optional[Sequence[str]] = None,
    val_ratio: float = 0.1,
    fps: Optional[float] = None,
    target: str = 'near',
    max_agent_distance: float = 50.0,
    lidar_mount: Optional[dict] = None,
    camera_rig: Optional[Dict[str, dict]] = None,
) -> Dict[str, str]:
    """Convert every route under ``root`` into train / val info pkls.

    Args:
        root (str): dataset root; route folders are found at any depth (a folder with ``anno/`` is a
            Bench2Drive route, with ``measurements/`` a PDM-Lite route).
        out_dir (str): where the pkls go.
        info_prefix (str): file name prefix. Defaults to 'bench2drive'.
        layout (str): 'auto', 'bench2drive' or 'pdm_lite'. Defaults to 'auto' (per route).
        val_routes (Sequence[str], optional): route folder names (relative to ``root``, or their last
            component) for the val split. Defaults to None: every ``round(1 / val_ratio)``-th route in
            sorted order (at least one when there are 2+ routes).
        val_ratio (float): see ``val_routes``. Defaults to 0.1.
        fps (float, optional): frame rate of the data; None = 10 Hz (Bench2Drive) / 4 Hz (PDM-Lite).
        target (str): Bench2Drive target/command pair, 'near' or 'far'. Defaults to 'near'.
        max_agent_distance (float): metres. Defaults to 50.0.
        lidar_mount (dict, optional): override the LiDAR mount (CARLA vehicle coords).
        camera_rig (dict, optional): override the camera rig (see :mod:`.rig`).

    Returns:
        dict: ``{'train': path, 'val': path}``.
    """
    routes = find_routes(root)
    if not routes:
        raise FileNotFoundError(f'no Bench2Drive (anno/) or PDM-Lite (measurements/) route folders under {root!r}')
    if val_routes is not None:
        val = {r for r in routes if r in val_routes or osp.basename(r) in val_routes}
    else:
        every = max(2, int(round(1.0 / val_ratio))) if val_ratio > 0 else 0
        val = {r for k, r in enumerate(routes) if every and len(routes) > 1 and k % every == every - 1}
        if val_ratio > 0 and len(routes) > 1 and not val:
            val = {routes[-1]}
    layouts = set()
    splits: Dict[str, List[dict]] = dict(train=[], val=[])
    print(f'Converting {len(routes)} routes under {root}')
    for route in track_iter_progress(routes):
        lay = detect_layout(osp.join(root, route)) if layout == 'auto' else layout
        layouts.add(lay)
        infos = route_infos(
            root, route, lay, fps or DEFAULT_FPS[lay], target, max_agent_distance, lidar_mount, camera_rig
        )
        splits['val' if route in val else 'train'].extend(infos)
    cam_names = sorted({c for infos in splits.values() for i in infos for c in i['images']})
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for split, infos in splits.items():
        for k, info in enumerate(infos):
            info['sample_idx'] = k
        meta = dict(
            dataset='bench2drive',
            version='+'.join(sorted(layouts)),
            info_version=INFO_VERSION,
            categories={c: i for i, c in enumerate(CLASSES)},
            cam_names=cam_names,
            planning=dict(PLANNING),
            split=split,
        )
        paths[split] = osp.join(out_dir, f'{info_prefix}_infos_{split}.pkl')
        dump(dict(metainfo=meta, data_list=infos), paths[split])
    return paths
