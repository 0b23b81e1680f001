# Copyright (c) mmautomot contributors. All rights reserved.
"""Rasterise LiDAR point clouds into TransFuser's BEV height histogram (vectorised, in torch)."""

import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def bev_grid_shape(x_range: Tuple[float, float], y_range: Tuple[float, float], resolution: float) -> Tuple[int, int]:
    """(H, W) of the BEV image: H rows along x, W columns along y (see :func:`lidar_to_bev_histogram`)."""
    h = int(round((x_range[1] - x_range[0]) / resolution))
    w = int(round((y_range[1] - y_range[0]) / resolution))
    if h <= 0 or w <= 0:
        raise ValueError(f'empty BEV grid for x_range={x_range}, y_range={y_range}, resolution={resolution}')
    return h, w


def lidar_to_bev_histogram(
    points: Sequence[Tensor],
    x_range: Tuple[float, float] = (-32.0, 32.0),
    y_range: Tuple[float, float] = (-32.0, 32.0),
    resolution: float = 0.25,
    z_range: Tuple[float, float] = (-4.0, 10.0),
    split_height: float = 0.2,
    max_count: int = 5,
    use_ground_plane: bool = True,
    device: Optional[torch.device] = None,
) -> Tensor:
    """Count LiDAR points per BEV cell in height bins, as TransFuser's LiDAR input.

    Chitta et al., "TransFuser: Imitation with Transformer-Based Sensor Fusion for Autonomous Driving"
    (TPAMI 2022): points are split at ``split_height`` into a "below" bin (``z <= split_height``) and an
    "above" bin (``z > split_height``), counted per cell, clipped at ``max_count`` and divided by it, so each
    value is in ``[0, 1]``. ``use_ground_plane=False`` keeps the "above" bin only (TransFuser++ default).

    Image axis convention (a top-down view with the ego's forward up and its left on the left):
    ``row = floor((x_max - x) / resolution)``, ``col = floor((y_max - y) / resolution)``. Row 0 is the
    farthest ahead (x = x_max), the last column the farthest right (y = y_min). With the default symmetric
    range the ego sits at the image centre and a point at x = +10 m, y = 0 lands 40 rows *above* the centre
    row (``row = 88``, ``col = 128`` of 256 x 256). Points outside the x/y range or outside
    ``[z_range[0], z_range[1])`` are dropped.

    Args:
        points (Sequence[Tensor]): per batch element an (N_i, C >= 3) float tensor (x, y, z, ...) in the
            ego frame (x forward, y left, z up, metres). ``N_i = 0`` is allowed (an all-zero image).
        x_range (tuple[float]): (x_min, x_max) metres. Defaults to (-32, 32).
        y_range (tuple[float]): (y_min, y_max) metres. Defaults to (-32, 32).
        resolution (float): cell size in metres. Defaults to 0.25 (256 x 256 cells).
        z_range (tuple[float]): kept heights [z_min, z_max) in metres. Defaults to (-4, 10).
        split_height (float): height splitting the two bins, metres. Defaults to 0.2.
        max_count (int): counts are clipped at this value and divided by it. Defaults to 5.
        use_ground_plane (bool): two channels (below, above) if True, else one (above). Defaults to True.
        device (torch.device, optional): output device. Defaults to the first cloud's device.

    Returns:
        Tensor: (B, 2 or 1, H, W) float32 in [0, 1], channel order (below, above).

    Raises:
        ValueError: if a cloud contains NaN coordinates (the message names the batch index) or has
            fewer than 3 columns.
    """
    if len(points) == 0:
        raise ValueError('lidar_to_bev_histogram: got an empty batch (no point clouds)')
    h, w = bev_grid_shape(x_range, y_range, resolution)
    n_ch = 2 if use_ground_plane else 1
    device = device if device is not None else points[0].device
    flat_idx = []
    for b, pts in enumerate(points):
        if pts.dim() != 2 or pts.shape[1] < 3:
            raise ValueError(
                f'lidar_to_bev_histogram: points of batch index {b} must be (N, C>=3), got shape {tuple(pts.shape)}'
            )
        xyz = pts[:, :3].to(device=device, dtype=torch.float32)
        nan_rows = torch.isnan(xyz).any(dim=1)
        if nan_rows.any():
            raise ValueError(
                f'lidar_to_bev_histogram: points of batch index {b} contain NaN '
                f'coordinates in {int(nan_rows.sum())} of {xyz.shape[0]} points'
            )
        x, y, z = xyz.unbind(dim=1)
        rowf = torch.floor((x_range[1] - x) / resolution)
        colf = torch.floor((y_range[1] - y) / resolution)
        keep = (rowf >= 0) & (rowf < h) & (colf >= 0) & (colf < w) & (z >= z_range[0]) & (z < z_range[1])
        if not use_ground_plane:
            keep &= z > split_height
        chan = (z > split_height).long() if use_ground_plane else torch.zeros_like(z, dtype=torch.long)
        idx = ((b * n_ch + chan) * h + rowf.long().clamp(0, h - 1)) * w + colf.long().clamp(0, w - 1)
        flat_idx.append(idx[keep])
    counts = torch.bincount(torch.cat(flat_idx), minlength=len(points) * n_ch * h * w)
    hist = counts.view(len(points), n_ch, h, w).to(torch.float32)
    return hist.clamp_(max=float(max_count)) / float(max_count)


def bev_cell_of(
    x: float,
    y: float,
    x_range: Tuple[float, float] = (-32.0, 32.0),
    y_range: Tuple[float, float] = (-32.0, 32.0),
    resolution: float = 0.25,
) -> Tuple[int, int]:
    """(row, col) of the ego-frame point ``(x, y)`` under the convention of :func:`lidar_to_bev_histogram`."""
    return (int(math.floor((x_range[1] - x) / resolution)), int(math.floor((y_range[1] - y) / resolution)))
