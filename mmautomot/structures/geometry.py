# Copyright (c) mmautomot contributors. All rights reserved.
"""Frames, poses and box geometry shared by datasets, evaluation, visualisation and the closed loop.

Frames used here:

* **CARLA world / vehicle frames** are left-handed: x forward (east for the world), y right (south),
  z up; CARLA yaw is in degrees and grows clockwise seen from above (from +x towards +y).
* **Right-handed world** (``rh``): CARLA world with y flipped (``y_rh = -y_carla``); yaw in radians,
  counter-clockwise from +x (``yaw_rh = -radians(yaw_carla)``).
* **Ego frame** (planning frame of ``docs/contracts.md``): x forward, y left, z up, metres.
* **Compass** (CARLA IMU): radians, 0 = north = CARLA -y, growing clockwise, so
  ``yaw_carla = compass - pi/2`` and ``yaw_rh = pi/2 - compass``.
* **GNSS**: CARLA converts world locations to latitude / longitude with a spherical Mercator projection
  around the map's geo-reference ``(lat_ref, lon_ref)`` (0, 0 for the CARLA towns unless the OpenDRIVE
  header says otherwise), Earth radius 6378137 m. :func:`gps_to_carla_xy` is its inverse.

No ``carla`` and no torch import: every function works on numpy arrays (the closed-loop core imports
this module in CARLA's Python).
"""

import math
from typing import Tuple

import numpy as np

EARTH_RADIUS_M = 6378137.0


def wrap_angle(angle):
    """Wrap radians to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def compass_to_yaw(compass: float) -> float:
    """CARLA IMU compass (rad, 0 = north, clockwise) -> right-handed yaw (rad, CCW from +x)."""
    return float(wrap_angle(np.pi / 2 - compass))


def carla_xy_to_rh(xy) -> np.ndarray:
    """Flip CARLA's y: (..., 2+) left-handed coordinates -> right-handed (copy, float64)."""
    out = np.array(xy, dtype=np.float64)
    out[..., 1] = -out[..., 1]
    return out


def _mercator_scale(lat_ref: float) -> float:
    return math.cos(math.radians(lat_ref))


def _mercator_xy(lat, lon, scale):
    mx = scale * np.radians(lon) * EARTH_RADIUS_M
    my = scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + np.asarray(lat, float)) / 2.0))
    return mx, my


def gps_to_carla_xy(lat, lon, lat_ref: float = 0.0, lon_ref: float = 0.0) -> np.ndarray:
    """Latitude / longitude (degrees) -> CARLA world x, y (metres, left-handed).

    Args:
        lat, lon (float | np.ndarray): GNSS coordinates in degrees.
        lat_ref, lon_ref (float): the map geo-reference in degrees. Defaults to 0, 0.

    Returns:
        np.ndarray: (..., 2) CARLA world (x, y).
    """
    scale = _mercator_scale(lat_ref)
    mx, my = _mercator_xy(lat, lon, scale)
    mx0, my0 = _mercator_xy(lat_ref, lon_ref, scale)
    return np.stack([np.asarray(mx - mx0, float), np.asarray(my0 - my, float)], axis=-1)


def carla_xy_to_gps(xy, lat_ref: float = 0.0, lon_ref: float = 0.0) -> np.ndarray:
    """CARLA world x, y (metres, left-handed) -> (..., 2) latitude, longitude in degrees."""
    xy = np.asarray(xy, dtype=np.float64)
    scale = _mercator_scale(lat_ref)
    mx0, my0 = _mercator_xy(lat_ref, lon_ref, scale)
    mx = mx0 + xy[..., 0]
    my = my0 - xy[..., 1]
    lon = np.degrees(mx / (EARTH_RADIUS_M * scale))
    lat = 2.0 * np.degrees(np.arctan(np.exp(my / (EARTH_RADIUS_M * scale)))) - 90.0
    return np.stack([lat, lon], axis=-1)


def lidar_mount_matrix(x: float = 0.0, y: float = 0.0, z: float = 0.0, yaw: float = 0.0) -> np.ndarray:
    """Right-handed 4x4 sensor->ego transform of a sensor mounted at CARLA vehicle coords.

    Args:
        x, y, z (float): mount position in the CARLA vehicle frame (metres, y right).
        yaw (float): mount yaw in CARLA degrees (clockwise).
    """
    c, s = np.cos(np.radians(-yaw)), np.sin(np.radians(-yaw))
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = [x, -y, z]
    return m


def box_corners_bev(boxes) -> np.ndarray:
    """BEV corners of boxes: (N, 7+) ``(x, y, z, l, w, h, yaw, ...)`` -> (N, 4, 2), same frame.

    ``l`` runs along the heading ``yaw`` (radians, CCW from +x). Corners are front-left, rear-left, rear-right,
    front-right (counter-clockwise seen from above).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.ndim > 1 else 7)[:, :7]
    cos, sin = np.cos(boxes[:, 6:7]), np.sin(boxes[:, 6:7])
    lx = np.array([1.0, -1.0, -1.0, 1.0]) * boxes[:, 3:4] / 2
    ly = np.array([1.0, 1.0, -1.0, -1.0]) * boxes[:, 4:5] / 2
    return np.stack([boxes[:, 0:1] + cos * lx - sin * ly, boxes[:, 1:2] + sin * lx + cos * ly], -1)


def rotation_2d(yaw: float) -> np.ndarray:
    """2x2 counter-clockwise rotation by ``yaw`` radians."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s], [s, c]])


def world_to_ego(points, ego_xy, ego_yaw: float) -> np.ndarray:
    """Right-handed world points (N, 2) -> ego frame of a pose (x fwd, y left)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) - np.asarray(ego_xy, float)[:2]
    return pts @ rotation_2d(ego_yaw)  # == (R^T p^T)^T


def ego_to_world(points, ego_xy, ego_yaw: float) -> np.ndarray:
    """Ego-frame points (N, 2) -> right-handed world."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ rotation_2d(ego_yaw).T + np.asarray(ego_xy, float)[:2]


def carla_matrix_to_pose(matrix) -> Tuple[np.ndarray, float]:
    """A CARLA 4x4 local->world transform -> right-handed (xyz (3,), yaw rad)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f'expected a 4x4 transform, got shape {m.shape}')
    xyz = m[:3, 3].copy()
    xyz[1] = -xyz[1]
    yaw_carla = math.atan2(m[1, 0], m[0, 0])
    return xyz, float(wrap_angle(-yaw_carla))


def resample_polyline(points, spacing: float, num: int, include_origin: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing`` metres along a polyline (starting at the origin by default).

    The output point ``k`` (0-based) lies at arc length ``(k + 1) * spacing``. Points past the end of the
    polyline repeat its last point and are masked out.

    Args:
        points (np.ndarray): (N, 2) polyline (e.g. future ego positions, ego frame).
        spacing (float): metres between output points.
        num (int): number of output points.
        include_origin (bool): prepend (0, 0) (the current ego position). Defaults to True.

    Returns:
        tuple: ``(path (num, 2) float32, mask (num,) float32)``.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if include_origin:
        pts = np.concatenate([np.zeros((1, 2)), pts], axis=0)
    if len(pts) == 0:
        return np.zeros((num, 2), np.float32), np.zeros(num, np.float32)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 1e-6])
    pts = pts[keep]
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    targets = spacing * np.arange(1, num + 1, dtype=np.float64)
    mask = (targets <= cum[-1] + 1e-6).astype(np.float32)
    if len(pts) == 1:
        return np.repeat(pts, num, axis=0).astype(np.float32), np.zeros(num, np.float32)
    path = np.stack([np.interp(targets, cum, pts[:, 0]), np.interp(targets, cum, pts[:, 1])], -1)
    return path.astype(np.float32), mask
