# Copyright (c) mmautomot contributors. All rights reserved.
"""Point loading for CARLA datasets (left-handed clouds in .npy / .bin / .laz files)."""

import os.path as osp
import zlib
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmautomot.registry import TRANSFORMS


def load_carla_points(path: str, num_feats: int = 4) -> np.ndarray:
    """Read a CARLA LiDAR cloud as (N, num_feats) float32 in the sensor frame (still left-handed).

    Supported: ``.npy`` ((N, >=3) array), ``.bin`` (float32, ``num_feats`` per point) and ``.laz``/
    ``.las`` (needs ``laspy`` with a LAZ backend: ``pip install "laspy[lazrs]"``; x, y, z and
    intensity are read). Missing columns are zero-filled.
    """
    ext = osp.splitext(path)[1].lower()
    if not osp.isfile(path):
        raise FileNotFoundError(f'LiDAR file {path!r} not found')
    if ext == '.npy':
        pts = np.load(path, allow_pickle=False)
    elif ext == '.bin':
        pts = np.fromfile(path, dtype=np.float32)
        if pts.size % num_feats:
            raise ValueError(f'{path}: {pts.size} floats is not a multiple of {num_feats} features')
        pts = pts.reshape(-1, num_feats)
    elif ext in ('.laz', '.las'):
        try:
            import laspy
        except ImportError as err:
            raise ImportError(f'reading {path} needs laspy with a LAZ backend: pip install "laspy[lazrs]"') from err
        las = laspy.read(path)
        inten = np.asarray(getattr(las, 'intensity', np.zeros(len(las.x))), np.float32)
        pts = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z), inten], axis=1)
    else:
        raise ValueError(f'{path}: unsupported LiDAR format {ext!r} (.npy, .bin, .laz)')
    pts = np.asarray(pts, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f'{path}: expected (N, >=3) points, got shape {pts.shape}')
    if pts.shape[1] < num_feats:
        pts = np.concatenate([pts, np.zeros((len(pts), num_feats - pts.shape[1]), np.float32)], 1)
    return pts[:, :num_feats]


@TRANSFORMS.register_module()
class LoadCarlaPoints(BaseTransform):
    """Load a CARLA LiDAR cloud and express it in a right-handed frame.

    CARLA clouds are left-handed (y right); this flips y, giving the right-handed LiDAR frame that the
    info's ``lidar_points.lidar2ego`` refers to. With ``to_ego=True`` it also applies ``lidar2ego`` so the
    points are in the ego frame (x forward, y left, z up) directly.

    Required keys: ``lidar_points`` (``lidar_path``, ``lidar2ego``), ``token``.
    Added keys: ``points`` (N, ``num_feats``) float32 numpy array (x, y, z, intensity).

    Args:
        num_feats (int): features per point. Defaults to 4.
        to_ego (bool): transform into the ego frame. Defaults to True.
        max_points (int, optional): keep a random subset of at most this many points (seeded by
            the token, so deterministic per sample). Defaults to None.
    """

    def __init__(self, num_feats: int = 4, to_ego: bool = True, max_points: Optional[int] = None):
        self.num_feats, self.to_ego, self.max_points = num_feats, to_ego, max_points

    def transform(self, results: dict) -> dict:
        info = results['lidar_points']
        try:
            pts = load_carla_points(info['lidar_path'], self.num_feats)
        except (FileNotFoundError, ValueError, ImportError) as err:
            raise type(err)(f'sample {results.get("token")!r}: {err}') from err
        if info.get('coord_system', 'carla_left_handed') == 'carla_left_handed':
            pts[:, 1] = -pts[:, 1]
        if self.to_ego:
            m = np.asarray(info['lidar2ego'], np.float64)
            pts[:, :3] = (pts[:, :3].astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)
        if self.max_points and len(pts) > self.max_points:
            seed = zlib.crc32(str(results.get('token')).encode())
            keep = np.random.default_rng(seed).choice(len(pts), self.max_points, replace=False)
            pts = pts[np.sort(keep)]
        results['points'] = pts
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_feats={self.num_feats}, to_ego={self.to_ego})'
