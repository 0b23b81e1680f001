# Copyright (c) mmautomot contributors. All rights reserved.
"""Sensor rig of the synthetic nuScenes dataset: calibrations close to the real nuScenes car.

Ego frame: x forward, y left, z up, origin at the rear axle on the ground. ``LIDAR_TOP`` is mounted
yawed by -90 degrees as in nuScenes (sensor x points right, y forward). Cameras use the OpenCV frame
(x right, y down, z forward); intrinsics are the nuScenes ones (1600 x 900) scaled to the image size.
"""

from typing import Dict, Tuple

import numpy as np

CAM_NAMES = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
# name: (translation in the ego frame, yaw in degrees, focal length at 1600 px width)
_CAMS = {
    'CAM_FRONT': ((1.70, 0.016, 1.511), 0.0, 1266.4),
    'CAM_FRONT_RIGHT': ((1.551, -0.494, 1.496), -55.0, 1260.8),
    'CAM_FRONT_LEFT': ((1.525, 0.495, 1.510), 55.0, 1272.6),
    'CAM_BACK': ((0.028, 0.003, 1.579), 180.0, 809.2),
    'CAM_BACK_LEFT': ((1.036, 0.485, 1.591), 110.0, 1256.7),
    'CAM_BACK_RIGHT': ((1.015, -0.480, 1.562), -110.0, 1259.5),
}
LIDAR_TRANSLATION = (0.943713, 0.0, 1.84023)
LIDAR_YAW = -np.pi / 2
# Velodyne HDL-32E: 32 rings from -30.67 to +10.67 degrees elevation.
LIDAR_ELEVATIONS = np.radians(np.linspace(-30.67, 10.67, 32))
LIDAR_RANGE = 70.0


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def quat_from_matrix(r: np.ndarray) -> list:
    """Unit quaternion [w, x, y, z] (nuScenes order) of a rotation matrix."""
    from pyquaternion import Quaternion

    q = Quaternion(matrix=r, atol=1e-6)
    q = q if q.w >= 0 else -q
    return [float(q.w), float(q.x), float(q.y), float(q.z)]


def yaw_quat(yaw: float) -> list:
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]


def make_pose(xyz, r: np.ndarray) -> np.ndarray:
    """4x4 transform from a translation and a 3x3 rotation."""
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = r, xyz
    return t


# OpenCV camera axes expressed in the ego frame for a camera looking along +x.
_CAM_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_rig(image_size: Tuple[int, int]) -> Dict[str, dict]:
    """Per camera: ``cam2ego`` (4x4) and ``intrinsic`` (3x3) for images of ``(width, height)``."""
    w, h = image_size
    scale = w / 1600.0
    rig = {}
    for name in CAM_NAMES:
        xyz, yaw_deg, f = _CAMS[name]
        # a slight downward pitch (1 degree) as on the real car
        pitch = np.radians(-1.0)
        r_pitch = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        r = rot_z(np.radians(yaw_deg)) @ _CAM_BASE @ r_pitch
        k = np.array([[f * scale, 0.0, w / 2.0 + 0.5], [0.0, f * scale, h / 2.0 + 0.5], [0.0, 0.0, 1.0]])
        rig[name] = dict(cam2ego=make_pose(xyz, r), intrinsic=k)
    return rig


def lidar2ego() -> np.ndarray:
    return make_pose(LIDAR_TRANSLATION, rot_z(LIDAR_YAW))


def ego2global(x: float, y: float, yaw: float) -> np.ndarray:
    return make_pose((x, y, 0.0), rot_z(yaw))
