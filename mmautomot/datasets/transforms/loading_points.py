# Copyright (c) mmautomot contributors. All rights reserved.
"""LiDAR loading into the current ego frame (x forward, y left, z up), with past sweeps."""

from typing import List, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get

from mmautomot.registry import TRANSFORMS


def _as_mat(value, name: str, token: str) -> np.ndarray:
    mat = np.asarray(value, dtype=np.float64)
    if mat.shape != (4, 4):
        raise ValueError(f'sample {token!r}: {name} must be 4x4, got shape {mat.shape}')
    return mat


@TRANSFORMS.register_module()
class LoadPointsInEgoFrame(BaseTransform):
    """Load the keyframe LiDAR cloud and past sweeps, all in the current ego frame.

    nuScenes' ``LIDAR_TOP`` is x right / y forward; every cloud is moved with its own poses: the
    keyframe with ``lidar2ego``; a sweep ``s`` with
    ``inv(ego2global_cur) @ ego2global_s @ lidar2ego_s`` (so ego motion between sweeps is
    compensated). mmdet3d's ``LoadPointsFromFile`` / ``LoadPointsFromMultiSweeps`` are not used:
    they keep the LiDAR frame and the latter needs a precomputed ``lidar2sensor`` per sweep that
    our info pkl (``docs/contracts.md``) does not store.

    Required keys: ``lidar_points`` (``lidar_path``, ``lidar2ego``), ``token``; with sweeps also
    ``ego2global``, ``timestamp`` and ``lidar_sweeps`` (newest first, each
    ``dict(lidar_points=dict(lidar_path, lidar2ego), ego2global, timestamp)``).
    Added keys: ``points`` (N, C) float32: the ``use_dim`` columns (x, y, z in the ego frame,
    then e.g. intensity) plus, with ``time_lag``, the time lag in seconds (0 for the keyframe);
    ``lidar2ego`` (4, 4) float32.

    Args:
        load_dim (int): float32 values per point in the file (nuScenes 5: x y z intensity ring).
            Defaults to 5.
        use_dim (int | Sequence[int]): columns to keep (an int n means the first n); must start
            with 0, 1, 2. Defaults to 4 (x y z intensity).
        sweeps_num (int): past sweeps to add (the newest ones). Defaults to 0.
        time_lag (bool): append the time-lag column. Defaults to True.
        remove_close (float, optional): drop points with |x| and |y| below this radius (metres)
            in each cloud's own LiDAR frame (returns of the ego car). Defaults to None.
        allow_empty (bool): accept an empty keyframe cloud instead of raising. Defaults to
            False.
        backend_args (dict, optional): mmengine file backend arguments. Defaults to None.
    """

    def __init__(
        self,
        load_dim: int = 5,
        use_dim: Union[int, Sequence[int]] = 4,
        sweeps_num: int = 0,
        time_lag: bool = True,
        remove_close: Optional[float] = None,
        allow_empty: bool = False,
        backend_args: Optional[dict] = None,
    ) -> None:
        use_dim = list(range(use_dim)) if isinstance(use_dim, int) else list(use_dim)
        if use_dim[:3] != [0, 1, 2] or max(use_dim) >= load_dim:
            raise ValueError(f'use_dim must start with 0, 1, 2 and stay below load_dim={load_dim}, got {use_dim}')
        if sweeps_num < 0:
            raise ValueError(f'sweeps_num must be >= 0, got {sweeps_num}')
        self.load_dim = load_dim
        self.use_dim = use_dim
        self.sweeps_num = sweeps_num
        self.time_lag = time_lag
        self.remove_close = remove_close
        self.allow_empty = allow_empty
        self.backend_args = backend_args

    def _load(self, path: str, token: str, allow_empty: bool) -> np.ndarray:
        """Read one ``.bin`` cloud as (N, len(use_dim)) float32, with checks."""
        try:
            buf = get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'sample {token!r}: point cloud {path!r} not found') from err
        if len(buf) % (4 * self.load_dim) != 0:
            raise ValueError(
                f'sample {token!r}: point cloud {path!r} has {len(buf)} bytes, not '
                f'a multiple of {self.load_dim} float32 values per point'
            )
        points = np.frombuffer(buf, dtype=np.float32).reshape(-1, self.load_dim)
        points = points[:, self.use_dim]
        if points.shape[0] == 0 and not allow_empty:
            raise ValueError(f'sample {token!r}: point cloud {path!r} is empty (set allow_empty=True to accept it)')
        bad = ~np.isfinite(points).all(axis=1)
        if bad.any():
            raise ValueError(f'sample {token!r}: point cloud {path!r} has {int(bad.sum())} points with NaN/inf values')
        if self.remove_close is not None:
            r = self.remove_close
            points = points[~((np.abs(points[:, 0]) < r) & (np.abs(points[:, 1]) < r))]
        return points

    @staticmethod
    def _to_frame(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
        out = np.array(points, dtype=np.float32, copy=True)
        out[:, :3] = points[:, :3].astype(np.float64) @ mat[:3, :3].T + mat[:3, 3]
        return out

    def transform(self, results: dict) -> dict:
        token = results.get('token', '<no token>')
        if 'lidar_points' not in results:
            raise KeyError(f"sample {token!r}: 'lidar_points' missing from the info")
        lidar = results['lidar_points']
        n_feats = lidar.get('num_pts_feats', self.load_dim)
        if int(n_feats) != self.load_dim:
            raise ValueError(f'sample {token!r}: the info says {n_feats} values per point but load_dim={self.load_dim}')
        lidar2ego = _as_mat(lidar['lidar2ego'], 'lidar_points.lidar2ego', token)
        clouds: List[np.ndarray] = [self._to_frame(self._load(lidar['lidar_path'], token, self.allow_empty), lidar2ego)]
        lags = [0.0]
        sweeps = results.get('lidar_sweeps', [])[: self.sweeps_num]
        if sweeps:
            global2ego = np.linalg.inv(_as_mat(results['ego2global'], 'ego2global', token))
            for i, sweep in enumerate(sweeps):
                sweep2ego = (
                    global2ego
                    @ _as_mat(sweep['ego2global'], f'sweep {i} ego2global', token)
                    @ _as_mat(sweep['lidar_points']['lidar2ego'], f'sweep {i} lidar2ego', token)
                )
                clouds.append(self._to_frame(self._load(sweep['lidar_points']['lidar_path'], token, True), sweep2ego))
                lags.append(float(results['timestamp']) - float(sweep['timestamp']))
        if self.time_lag:
            clouds = [
                np.concatenate([c, np.full((len(c), 1), lag, np.float32)], axis=1) for c, lag in zip(clouds, lags)
            ]
        results['points'] = np.ascontiguousarray(np.concatenate(clouds, axis=0), np.float32)
        results['lidar2ego'] = lidar2ego.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(load_dim={self.load_dim}, use_dim={self.use_dim}, '
            f'sweeps_num={self.sweeps_num}, time_lag={self.time_lag}, '
            f'allow_empty={self.allow_empty})'
        )
