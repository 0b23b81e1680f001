# Copyright (c) mmautomot contributors. All rights reserved.
"""Sensor preprocessing for the closed loop, identical to what the training data went through."""

from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmautomot.structures.geometry import carla_xy_to_rh, lidar_mount_matrix


def bgra_to_rgb(image: np.ndarray) -> np.ndarray:
    """CARLA camera buffer (H, W, 4) BGRA uint8 -> (H, W, 3) RGB uint8 (contiguous copy)."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f'camera image must be (H, W, 3|4) BGR(A), got shape {arr.shape}')
    return np.ascontiguousarray(arr[:, :, 2::-1], dtype=np.uint8)


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode an RGB image to JPEG and decode it again (the Bench2Drive training images are JPEGs)."""
    ok, buf = cv2.imencode('.jpg', rgb[:, :, ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError('cv2.imencode failed to JPEG-encode the camera image')
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def carla_lidar_to_ego(points: np.ndarray, sensor2ego: np.ndarray) -> np.ndarray:
    """CARLA LiDAR points (N, 4) in the (left-handed) sensor frame -> (N, 4) float32 ego frame.

    The y axis is flipped first (-> right-handed sensor frame), then ``sensor2ego`` (right-handed, see
    :func:`lidar_mount_matrix`) is applied; the 4th column (intensity) is kept.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f'LiDAR points must be (N, >=3), got shape {pts.shape}')
    xyz = carla_xy_to_rh(pts[:, :3])
    xyz = xyz @ sensor2ego[:3, :3].T + sensor2ego[:3, 3]
    inten = pts[:, 3:4] if pts.shape[1] > 3 else np.zeros((len(pts), 1))
    return np.concatenate([xyz, inten], axis=1).astype(np.float32)


class SensorPreprocessor:
    """Turn the leaderboard's ``input_data`` into the driver's observation images and points.

    Args:
        cameras (dict): ``{sensor_id: cam_name}``, e.g. ``{'CAM_FRONT': 'CAM_FRONT'}``.
        lidar_ids (Sequence[str]): LiDAR sensor ids; their points are merged. Defaults to ('LIDAR',).
        lidar_mount (dict): ``dict(x, y, z, yaw)`` of the LiDAR in CARLA vehicle coordinates (must match
            the rig in :meth:`sensors`). Defaults to ``dict(x=0, y=0, z=2.5, yaw=-90)``.
        jpeg_quality (int, optional): re-encode every camera image as JPEG at this quality before the
            model sees it, like the JPEG training data (Bench2Drive stores JPEGs). None = no re-encoding.
            Defaults to None.
        resize (tuple, optional): ``(W, H)`` to resize every camera image to. Defaults to None.
        max_points (int, optional): keep at most this many LiDAR points (nearest first). Defaults to None.
    """

    def __init__(
        self,
        cameras: Dict[str, str],
        lidar_ids: Sequence[str] = ('LIDAR',),
        lidar_mount: Optional[dict] = None,
        jpeg_quality: Optional[int] = None,
        resize: Optional[Tuple[int, int]] = None,
        max_points: Optional[int] = None,
    ):
        self.cameras = dict(cameras)
        self.lidar_ids = tuple(lidar_ids)
        mount = dict(x=0.0, y=0.0, z=2.5, yaw=-90.0) if lidar_mount is None else dict(lidar_mount)
        self.lidar2ego = lidar_mount_matrix(**mount)
        self.jpeg_quality = jpeg_quality
        self.resize = tuple(resize) if resize else None
        self.max_points = max_points

    def camera(self, raw: np.ndarray) -> np.ndarray:
        rgb = bgra_to_rgb(raw)
        if self.resize is not None and (rgb.shape[1], rgb.shape[0]) != self.resize:
            rgb = cv2.resize(rgb, self.resize, interpolation=cv2.INTER_LINEAR)
        if self.jpeg_quality is not None:
            rgb = jpeg_roundtrip(rgb, self.jpeg_quality)
        return rgb

    def __call__(self, input_data: dict) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray], list]:
        """Returns ``(images, points, missing)``; ``missing`` lists sensor ids absent or unreadable."""
        images, missing = {}, []
        for sid, name in self.cameras.items():
            try:
                images[name] = self.camera(input_data[sid][1])
            except (KeyError, TypeError, ValueError, IndexError):
                missing.append(sid)
        clouds = []
        for sid in self.lidar_ids:
            try:
                clouds.append(carla_lidar_to_ego(input_data[sid][1], self.lidar2ego))
            except (KeyError, TypeError, ValueError, IndexError):
                missing.append(sid)
        points = np.concatenate(clouds, axis=0) if clouds else None
        if points is not None and self.max_points and len(points) > self.max_points:
            order = np.argsort(np.linalg.norm(points[:, :2], axis=1))[: self.max_points]
            points = points[order]
        return images, points, missing
