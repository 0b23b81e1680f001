# Copyright (c) mmautomot contributors. All rights reserved.
"""Planning labels from ego poses: frame changes, history padding, arc-length paths, ego status.

All outputs are in the planning frame of the current frame (x forward, y left, metres, radians).
"""

from typing import Sequence, Tuple

import numpy as np


def to_local(global2ego: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Transform (N, 3) global points with a 4x4 ``global2ego``; returns (N, 3)."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    return xyz @ global2ego[:3, :3].T + global2ego[:3, 3]


def yaw_in_frame(global2ego: np.ndarray, rot_global: np.ndarray) -> float:
    """Yaw (rad, CCW from +x) of an object's x axis, given its 3x3 global rotation, in the ego frame."""
    heading = global2ego[:3, :3] @ rot_global[:, 0]
    return float(np.arctan2(heading[1], heading[0]))


def pad_history(hist: np.ndarray, valid: np.ndarray, speed: float, dt: float) -> np.ndarray:
    """Fill missing (scene-start) history steps by extrapolating backwards at constant velocity.

    Args:
        hist (np.ndarray): (H, 2) past positions, oldest first; rows where ``valid`` is False are
            ignored.
        valid (np.ndarray): (H,) bool; the valid steps are the newest ones.
        speed (float): current speed (m/s) used when fewer than one past step exists.
        dt (float): seconds between steps.
    """
    hist = np.array(hist, dtype=np.float64)
    n_valid = int(valid.sum())
    if n_valid == len(hist):
        return hist
    chain = np.concatenate([hist[valid], np.zeros((1, 2))])  # oldest valid ... current (origin)
    step = chain[1] - chain[0] if len(chain) >= 2 and n_valid else np.array([speed * dt, 0.0])
    first = chain[0]
    n_missing = len(hist) - n_valid
    for k in range(n_missing):
        hist[n_missing - 1 - k] = first - step * (k + 1)
    return hist


def resample_path(points: np.ndarray, num: int, spacing: float) -> Tuple[np.ndarray, np.ndarray]:
    """Resample a polyline starting at the origin by arc length.

    Args:
        points (np.ndarray): (K, 2) future positions in order (the origin is prepended).
        num (int): number of output points, at ``spacing, 2 * spacing, ...`` metres.
        spacing (float): metres between points.

    Returns:
        tuple: path (num, 2) float32 and mask (num,) float32 (0 beyond the polyline's length; masked
        points repeat the last reachable position).
    """
    pts = np.concatenate([np.zeros((1, 2)), np.asarray(points, dtype=np.float64).reshape(-1, 2)])
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 1e-6])
    pts = pts[keep]
    s = np.concatenate([[0.0], np.cumsum(seg[seg > 1e-6])])
    targets = spacing * np.arange(1, num + 1)
    mask = (targets <= s[-1] + 1e-6).astype(np.float32)
    clipped = np.minimum(targets, s[-1])
    path = np.stack([np.interp(clipped, s, pts[:, 0]), np.interp(clipped, s, pts[:, 1])], axis=1)
    return path.astype(np.float32), mask


def status_from_poses(times: Sequence[float], poses: Sequence[np.ndarray], cur: int) -> np.ndarray:
    """Ego status (speed, lon acc, lat acc, yaw rate) at ``poses[cur]`` by finite differences.

    Args:
        times (Sequence[float]): timestamps in seconds, increasing.
        poses (Sequence[np.ndarray]): 4x4 ego2global per timestamp (e.g. the LiDAR sweeps around a
            keyframe).
        cur (int): index of the current frame.

    Returns:
        np.ndarray: (4,) float32; zeros if fewer than two poses.
    """
    if len(poses) < 2:
        return np.zeros(4, np.float32)
    g2e = np.linalg.inv(poses[cur])
    xy = np.array([to_local(g2e, p[:3, 3])[0, :2] for p in poses])
    yaw = np.unwrap([yaw_in_frame(g2e, p[:3, :3]) for p in poses])
    t = np.asarray(times, dtype=np.float64)
    vel = np.gradient(xy, t, axis=0)  # (N, 2) in the current ego frame
    yaw_rate = np.gradient(yaw, t)
    acc = np.gradient(vel, t, axis=0) if len(poses) >= 3 else np.zeros_like(vel)
    return np.array([vel[cur, 0], acc[cur, 0], acc[cur, 1], yaw_rate[cur]], np.float32)


def status_from_can(pose_msgs: list, utimes: np.ndarray, timestamp_us: int, max_gap_us: int = 500_000):
    """Ego status from the CAN bus ``pose`` message closest before ``timestamp_us``.

    Returns:
        np.ndarray or None: (4,) float32 (vel x, accel x, accel y, rotation rate z), or None if no
        message lies within ``max_gap_us``.
    """
    if not len(utimes):
        return None
    i = int(np.searchsorted(utimes, timestamp_us, side='right')) - 1
    cand = [j for j in (i, i + 1) if 0 <= j < len(utimes)]
    j = min(cand, key=lambda c: abs(int(utimes[c]) - timestamp_us))
    if abs(int(utimes[j]) - timestamp_us) > max_gap_us:
        return None
    m = pose_msgs[j]
    return np.array([m['vel'][0], m['accel'][0], m['accel'][1], m['rotation_rate'][2]], np.float32)
