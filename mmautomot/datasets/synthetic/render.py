# Copyright (c) mmautomot contributors. All rights reserved.
"""Camera rendering and LiDAR ray casting of the synthetic world.

Both sensors see the same geometry: the ground plane (grass, sidewalks, roads, lane markings from
:class:`RoadGrid`) and the agents' 3D boxes (bottom on the ground, ``yaw`` about +z). Cameras fill
the projected ground polygons and the visible box faces back to front (painter's algorithm);
the LiDAR intersects every ray with the ground and the boxes and keeps the nearest hit.
"""

from typing import List, Sequence, Tuple

import cv2
import numpy as np

from mmautomot.structures.geometry import box_corners_bev

from .sensors import LIDAR_ELEVATIONS, LIDAR_RANGE
from .world import GRASS, MARKING_WHITE, MARKING_YELLOW, ROAD, SIDEWALK, RoadGrid

SKY = (235, 206, 150)
SURFACE_COLORS = {
    GRASS: (70, 130, 80),
    SIDEWALK: (165, 170, 175),
    ROAD: (85, 85, 85),
    MARKING_WHITE: (240, 240, 240),
    MARKING_YELLOW: (40, 200, 230),
}
SURFACE_INTENSITY = {GRASS: 4.0, SIDEWALK: 18.0, ROAD: 9.0, MARKING_WHITE: 70.0, MARKING_YELLOW: 60.0}
# box faces as corner indices (corners: bottom 0-3 counter-clockwise seen from above, top 4-7)
_FACES = ((4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7), (0, 3, 2, 1))
_NEAR = 0.1
_SHIFT = 4  # sub-pixel bits for cv2.fillPoly


def box_corners(xy: np.ndarray, yaw: float, wlh: Sequence[float]) -> np.ndarray:
    """(8, 3) corners of a box standing on the ground at centre ``xy`` (global frame)."""
    w, l, h = wlh
    bev = box_corners_bev([xy[0], xy[1], 0.0, l, w, h, yaw])[0]
    bottom = np.concatenate([bev, np.zeros((4, 1))], axis=1)
    top = bottom + np.array([0.0, 0.0, h])
    return np.concatenate([bottom, top])


def _clip_near(poly: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clip of a camera-frame polygon (K, 3) against z >= _NEAR."""
    out = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        p_in, q_in = p[2] >= _NEAR, q[2] >= _NEAR
        if p_in:
            out.append(p)
        if p_in != q_in:
            t = (_NEAR - p[2]) / (q[2] - p[2])
            out.append(p + t * (q - p))
    return np.array(out)


def _fill(img: np.ndarray, poly_cam: np.ndarray, k: np.ndarray, color) -> None:
    if (poly_cam[:, 2] < _NEAR).any():
        poly_cam = _clip_near(poly_cam)
        if len(poly_cam) < 3:
            return
    uv = (poly_cam @ k.T)[:, :2] / poly_cam[:, 2:3]
    uv = np.clip(uv, -1e5, 1e5) * (1 << _SHIFT)
    cv2.fillPoly(img, [np.round(uv).astype(np.int32)], color, lineType=cv2.LINE_AA, shift=_SHIFT)


def _visible(cam_pts: np.ndarray, k: np.ndarray, w: int, h: int) -> np.ndarray:
    """(P,) whether each (P, K, 3) camera-frame polygon can touch the image (conservative)."""
    z = cam_pts[..., 2]
    front = z >= _NEAR
    uv = (cam_pts @ k.T)[..., :2] / np.maximum(z, _NEAR)[..., None]
    # a polygon entirely in front of the camera but entirely off one image side is invisible
    off = (
        (uv[..., 0] < 0).all(-1) | (uv[..., 0] > w).all(-1) | (uv[..., 1] < 0).all(-1) | (uv[..., 1] > h).all(-1)
    ) & front.all(-1)
    return front.any(-1) & ~off


def render_camera(
    grid: RoadGrid,
    boxes: List[Tuple[np.ndarray, tuple]],
    cam2global: np.ndarray,
    intrinsic: np.ndarray,
    image_size: Tuple[int, int],
    view_range: float = 120.0,
) -> np.ndarray:
    """Render one camera image.

    Args:
        grid (RoadGrid): the static world.
        boxes (list): ``(corners (8, 3) global, BGR colour)`` per object to draw.
        cam2global (np.ndarray): 4x4 camera (OpenCV axes) to global transform.
        intrinsic (np.ndarray): 3x3 camera matrix for ``image_size``.
        image_size (tuple): (width, height) in pixels.
        view_range (float): ground and objects drawn up to this distance, metres.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.
    """
    w, h = image_size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = SKY
    g2c = np.linalg.inv(cam2global)
    r, t = g2c[:3, :3], g2c[:3, 3]
    cam_pos = cam2global[:3, 3]
    surf, quads = grid.ground_polygons(cam_pos[:2], view_range)
    quads = np.concatenate([quads, np.zeros(quads.shape[:2] + (1,))], axis=2) @ r.T + t
    for s_id, q in zip(surf[_visible(quads, intrinsic, w, h)], quads[_visible(quads, intrinsic, w, h)]):
        _fill(img, q, intrinsic, SURFACE_COLORS[int(s_id)])
    if not boxes:
        return img
    corners = np.stack([b[0] for b in boxes])
    centers = corners.mean(1)
    dist = np.linalg.norm(centers - cam_pos, axis=1)
    cam_pts = corners @ r.T + t
    vis = _visible(cam_pts, intrinsic, w, h) & (dist < view_range)
    for i in np.argsort(-dist):
        if not vis[i]:
            continue
        color = boxes[i][1]
        for f_idx, face in enumerate(_FACES):
            fc = corners[i, list(face)].mean(0)
            normal = fc - centers[i]
            if normal @ (cam_pos - fc) <= 0:
                continue
            shade = 1.0 if f_idx == 0 else 0.55 + 0.3 * abs(normal[0]) / (np.linalg.norm(normal) + 1e-9)
            _fill(img, cam_pts[i, list(face)], intrinsic, tuple(float(c * shade) for c in color))
    return img


def lidar_rays(azimuth_step_deg: float) -> Tuple[np.ndarray, np.ndarray]:
    """Unit ray directions (R, 3) in the LiDAR frame and their ring indices (R,)."""
    az = np.radians(np.arange(0.0, 360.0, azimuth_step_deg))
    el, a = np.meshgrid(LIDAR_ELEVATIONS, az, indexing='ij')
    dirs = np.stack([np.cos(el) * np.cos(a), np.cos(el) * np.sin(a), np.sin(el)], axis=-1)
    rings = np.broadcast_to(np.arange(len(LIDAR_ELEVATIONS))[:, None], el.shape)
    return dirs.reshape(-1, 3), rings.reshape(-1)


def cast_lidar(
    grid: RoadGrid,
    boxes: np.ndarray,
    box_intensity: np.ndarray,
    lidar2global: np.ndarray,
    rays: Tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> Tuple[np.ndarray, np.ndarray]:
    """Cast LiDAR rays against the ground plane and the boxes.

    Args:
        grid (RoadGrid): the static world (ground surfaces give intensities).
        boxes (np.ndarray): (B, 7) global boxes (x, y, z_bottom, w, l, h, yaw).
        box_intensity (np.ndarray): (B,) return intensity per box.
        lidar2global (np.ndarray): 4x4 pose of the LiDAR.
        rays (tuple): from :func:`lidar_rays`.
        rng (np.random.Generator): range noise source.

    Returns:
        tuple: points (N, 5) float32 ``x, y, z, intensity, ring`` in the LiDAR frame, and the number of
        points on each box (B,) int.
    """
    dirs_l, rings = rays
    r, o = lidar2global[:3, :3], lidar2global[:3, 3]
    dirs = dirs_l @ r.T
    n = len(dirs)
    t_hit = np.full(n, np.inf)
    with np.errstate(divide='ignore', invalid='ignore'):
        t_ground = np.where(dirs[:, 2] < -1e-6, -o[2] / dirs[:, 2], np.inf)
    t_hit = np.minimum(t_hit, t_ground)
    hit_box = np.full(n, -1)
    for b, (x, y, z0, w, l, h, yaw) in enumerate(boxes):
        rb = np.array([[np.cos(yaw), np.sin(yaw), 0], [-np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        ob = rb @ (o - np.array([x, y, z0 + h / 2]))
        db = dirs @ rb.T
        half = np.array([l / 2, w / 2, h / 2])
        with np.errstate(divide='ignore', invalid='ignore'):
            t1 = (-half - ob) / db
            t2 = (half - ob) / db
        t_near = np.nanmax(np.minimum(t1, t2), axis=1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=1)
        hit = (t_far >= t_near) & (t_near > 0.0) & (t_near < t_hit)
        t_hit[hit] = t_near[hit]
        hit_box[hit] = b
    t_hit = t_hit + rng.normal(0.0, 0.015, n)
    valid = np.isfinite(t_hit) & (t_hit < LIDAR_RANGE) & (t_hit > 1.0)
    pts_g = o + dirs[valid] * t_hit[valid, None]
    pts_g[:, 2] = np.maximum(pts_g[:, 2], 0.0)
    hb = hit_box[valid]
    intensity = np.array([SURFACE_INTENSITY[s] for s in range(5)])[grid.surface_at(pts_g[:, :2])]
    intensity[hb >= 0] = box_intensity[hb[hb >= 0]]
    intensity = np.clip(intensity + rng.normal(0.0, 1.5, len(intensity)), 0.0, 255.0)
    pts_l = (pts_g - o) @ r
    out = np.concatenate([pts_l, intensity[:, None], rings[valid, None]], axis=1).astype(np.float32)
    counts = np.bincount(hb[hb >= 0], minlength=len(boxes))
    return out, counts
