# Copyright (c) mmautomot contributors. All rights reserved.
"""Sensor rigs of the CARLA datasets and the camera / LiDAR matrices derived from them.

Mount positions are CARLA vehicle coordinates (x forward, y right, z up, metres; yaw in degrees,
clockwise). Matrices are right-handed: ``cam2ego`` maps OpenCV camera coordinates (x right, y down,
z forward) to the ego frame (x forward, y left, z up); ``lidar2ego`` maps the right-handed LiDAR frame
(the CARLA sensor frame with y flipped) to the ego frame. Roll and pitch are assumed 0 (true for both
rigs).
"""

import numpy as np

from mmautomot.structures.geometry import lidar_mount_matrix

#: Bench2Drive (Think2Drive) data rig: 6 nuScenes-like cameras, 1600x900 (folder name -> mount).
B2D_CAMERA_RIG = {
    'CAM_FRONT': dict(folder='rgb_front', x=0.80, y=0.0, z=1.60, yaw=0.0, width=1600, height=900, fov=70),
    'CAM_FRONT_LEFT': dict(folder='rgb_front_left', x=0.27, y=-0.55, z=1.60, yaw=-55.0, width=1600, height=900, fov=70),
    'CAM_FRONT_RIGHT': dict(folder='rgb_front_right', x=0.27, y=0.55, z=1.60, yaw=55.0, width=1600, height=900, fov=70),
    'CAM_BACK': dict(folder='rgb_back', x=-2.0, y=0.0, z=1.60, yaw=180.0, width=1600, height=900, fov=110),
    'CAM_BACK_LEFT': dict(folder='rgb_back_left', x=-0.32, y=-0.55, z=1.60, yaw=-110.0, width=1600, height=900, fov=70),
    'CAM_BACK_RIGHT': dict(folder='rgb_back_right', x=-0.32, y=0.55, z=1.60, yaw=110.0, width=1600, height=900, fov=70),
}
#: Bench2Drive LiDAR mount (an assumption to check against your copy of the data).
B2D_LIDAR_MOUNT = dict(x=-0.39, y=0.0, z=1.84, yaw=-90.0)

#: PDM-Lite (CARLA garage, leaderboard 2.0) rig: one front camera 1024x512 FOV 110, LiDAR.
PDM_CAMERA_RIG = {
    'CAM_FRONT': dict(folder='rgb', x=-1.5, y=0.0, z=2.0, yaw=0.0, width=1024, height=512, fov=110),
}
PDM_LIDAR_MOUNT = dict(x=0.0, y=0.0, z=2.5, yaw=-90.0)


def intrinsics_from_fov(width: int, height: int, fov_deg: float) -> np.ndarray:
    """3x3 pinhole intrinsics of a CARLA camera (square pixels, principal point at the centre)."""
    f = width / (2.0 * np.tan(np.radians(fov_deg) / 2.0))
    return np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], dtype=np.float32)


def cam2ego_matrix(x: float, y: float, z: float, yaw: float, **_) -> np.ndarray:
    """4x4 OpenCV camera -> ego transform for a camera mounted at CARLA vehicle coords."""
    axes = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=np.float64)  # cv -> (fwd, left, up)
    body2ego = lidar_mount_matrix(x, y, z, yaw)
    m = np.eye(4)
    m[:3, :3] = body2ego[:3, :3] @ axes
    m[:3, 3] = body2ego[:3, 3]
    return m.astype(np.float32)


def camera_entry(cam: dict, lidar2ego: np.ndarray) -> dict:
    """``cam2img``, ``cam2ego``, ``lidar2cam`` of one rig camera (see ``docs/contracts.md``)."""
    cam2ego = cam2ego_matrix(**cam)
    lidar2cam = np.linalg.inv(cam2ego.astype(np.float64)) @ lidar2ego
    return dict(
        cam2img=intrinsics_from_fov(cam['width'], cam['height'], cam['fov']),
        cam2ego=cam2ego,
        lidar2cam=lidar2cam.astype(np.float32),
    )
