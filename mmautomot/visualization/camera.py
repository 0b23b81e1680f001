# Copyright (c) mmautomot contributors. All rights reserved.
"""Project ego-frame trajectories (ground points, z = 0) into a camera image."""

from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmautomot.utils.misc import to_numpy

from .bev import sample_get

#: trajectory field -> RGB colour
TRAJ_COLORS = {
    'gt_ego_fut_trajs': (40, 200, 40),
    'pred_ego_fut_trajs': (230, 40, 40),
    'pred_ego_path': (250, 150, 20),
}


def project_ego_points(
    points_xy: np.ndarray, cam2ego: np.ndarray, intrinsics: np.ndarray, z: float = 0.0, min_depth: float = 0.5
) -> Tuple[np.ndarray, np.ndarray]:
    """Project ground points of the ego frame into pixels.

    Args:
        points_xy (np.ndarray): (P, 2) points (x forward, y left, metres) in the ego frame.
        cam2ego (np.ndarray): (4, 4) camera-to-ego transform (OpenCV camera: x right, y down,
            z forward).
        intrinsics (np.ndarray): (3, 3) camera matrix of the image the pixels refer to.
        z (float): height of the points in the ego frame. Defaults to 0 (the ground at the ego
            reference point).
        min_depth (float): points closer than this (metres along the optical axis) are invalid.

    Returns:
        tuple: ``(uv (P, 2) float64 pixels, valid (P,) bool)``; ``valid`` is False behind the camera.
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    homo = np.concatenate([pts, np.full((len(pts), 1), z), np.ones((len(pts), 1))], axis=1)
    cam = (np.linalg.inv(np.asarray(cam2ego, dtype=np.float64)) @ homo.T)[:3]  # (3, P)
    depth = cam[2]
    valid = depth > min_depth
    uvw = np.asarray(intrinsics, dtype=np.float64) @ cam
    uv = (uvw[:2] / np.where(valid, depth, 1.0)).T
    return uv, valid


def draw_trajectories_on_image(
    img: np.ndarray,
    trajs: Dict[str, np.ndarray],
    cam2ego: np.ndarray,
    intrinsics: np.ndarray,
    colors: Optional[Dict[str, Sequence[int]]] = None,
    thickness: int = 2,
) -> np.ndarray:
    """Draw each trajectory (starting at the ego origin) as a polyline with dots.

    Args:
        img (np.ndarray): (H, W, 3) uint8 RGB image (not modified).
        trajs (dict): name -> (P, 2) ego-frame points.
        cam2ego (np.ndarray): (4, 4). intrinsics (np.ndarray): (3, 3) for this image size.
        colors (dict, optional): name -> RGB; defaults to :data:`TRAJ_COLORS`, else white.
        thickness (int): line thickness in pixels.

    Returns:
        np.ndarray: a copy of the image with the drawings.
    """
    out = np.ascontiguousarray(img, dtype=np.uint8).copy()
    colors = colors or TRAJ_COLORS
    for name, traj in trajs.items():
        xy = np.concatenate([np.zeros((1, 2)), np.asarray(traj, np.float64).reshape(-1, 2)])
        uv, valid = project_ego_points(xy, cam2ego, intrinsics)
        uv = uv[valid]
        if len(uv) == 0:
            continue
        color = tuple(int(c) for c in colors.get(name, (255, 255, 255)))
        pts = np.round(np.clip(uv, -1e4, 1e4)).astype(np.int32)
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, color, thickness, cv2.LINE_AA)
        for p in pts:
            cv2.circle(out, (int(p[0]), int(p[1])), thickness + 2, color, -1, cv2.LINE_AA)
    return out


def front_camera_index(cam_names: Sequence[str], camera: str = 'CAM_FRONT') -> int:
    """Index of ``camera`` in ``cam_names`` (0 if the list is empty or lacks it)."""
    names = list(cam_names or [])
    return names.index(camera) if camera in names else 0


def draw_front_camera(
    sample: Any, imgs: Any, camera: str = 'CAM_FRONT', out_file: Optional[str] = None, min_width: int = 0
) -> Optional[np.ndarray]:
    """The front image of a sample with its GT / predicted trajectories projected.

    Args:
        sample (DrivingDataSample | dict): needs metainfo ``cam2ego`` (N_cam, 4, 4),
            ``cam_intrinsics`` (N_cam, 3, 3) and ``cam_names``.
        imgs (Tensor | np.ndarray): (N_cam, 3, H, W) or (N_cam, H, W, 3) uint8 RGB in ``cam_names``
            order (``inputs['imgs']``).
        camera (str): camera to draw. Defaults to ``'CAM_FRONT'``.
        out_file (str, optional): write a PNG here.
        min_width (int): upscale narrower images by the smallest integer factor that reaches this
            width (nearest neighbour; intrinsics scaled alike) so that small training-resolution frames stay
            readable. Defaults to 0 (no upscaling).

    Returns:
        np.ndarray | None: (H, W, 3) RGB image (upscaled by ``min_width``), or None when calibration or images
        are missing.
    """
    cam2ego, intr = sample_get(sample, 'cam2ego'), sample_get(sample, 'cam_intrinsics')
    if imgs is None or cam2ego is None or intr is None:
        return None
    imgs = to_numpy(imgs)
    idx = front_camera_index(sample_get(sample, 'cam_names'), camera)
    img = imgs[idx]
    if img.ndim != 3:
        raise ValueError(f'sample {sample_get(sample, "token")}: camera image must be 3-D, got {img.shape}')
    if img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    trajs = {k: to_numpy(sample_get(sample, k)) for k in TRAJ_COLORS if sample_get(sample, k) is not None}
    mask = sample_get(sample, 'gt_ego_fut_masks')
    if 'gt_ego_fut_trajs' in trajs and mask is not None:
        trajs['gt_ego_fut_trajs'] = trajs['gt_ego_fut_trajs'][to_numpy(mask).astype(bool)]
    intrinsics = to_numpy(intr)[idx].astype(np.float64)
    scale = int(np.ceil(min_width / img.shape[1])) if 0 < img.shape[1] < min_width else 1
    if scale > 1:
        img = cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        intrinsics[:2] *= scale
    out = draw_trajectories_on_image(
        np.ascontiguousarray(img.astype(np.uint8)), trajs, to_numpy(cam2ego)[idx], intrinsics
    )
    if out_file is not None:
        if not cv2.imwrite(out_file, cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
            raise OSError(f'could not write {out_file}')
    return out
