# Copyright (c) mmautomot contributors. All rights reserved.
"""Ego-footprint vs. agent-occupancy collision checks on the nuScenes planning BEV grid.

Grid (ego frame of the current frame, x forward, y left): ``G x G`` cells of ``res`` metres centred on
the ego (default 200 x 200 x 0.5 m, i.e. +-50 m). Cell ``(i, j)`` covers
``x in [-50 + res*i, -50 + res*(i+1))`` and ``y in [-50 + res*j, -50 + res*(j+1))``; its centre is the
pixel centre ``(row=i, col=j)`` of the occupancy image.

Ego footprint (as the ST-P3 / VAD / UniAD reference code): the set of cells whose centres lie inside the
``ego_length x ego_width`` rectangle centred ``ego_forward_offset`` ahead (+x) of a trajectory point at
the origin (with the defaults 8 x 4 = 32 cells). For a trajectory point ``p`` those 32 sample points
are shifted by ``p``, converted to cell indices by **truncation toward zero** and then **clamped** to
``[0, G-1]``, so a footprint leaving the grid is tested on the border cells. The footprint never
rotates with the heading. These cells are computed analytically (no ego rasterisation).

Agent occupancy: at each future step an agent is a rectangle (its current length / width, its future
centre and yaw) whose corners, in pixel units, are rounded to integers and filled with
:func:`cv2.fillPoly` (8-connected, no sub-pixel shift), one call per agent. The filled cells follow the
rule of the installed OpenCV (:data:`FILLPOLY_RULE`); OpenCV changed polygon filling twice
(opencv#23076 in 4.8: edges clipped at the image border; opencv#26187 in 4.11: the fill never
exceeds the polyline outline), so results computed with OpenCV <= 4.7 or 4.8-4.10 can differ by
single edge cells. For speed only agents whose box can reach one of the tested footprints are drawn.
"""
from typing import NamedTuple, Optional, Tuple

import cv2
import numpy as np

from .planning_protocols import BEVCollisionConfig


def _fillpoly_rule(version: str) -> str:
    major, minor = (int(v) for v in version.split('.')[:2])
    if (major, minor) >= (4, 11):
        return f'OpenCV>=4.11 fillPoly rule (fill bounded by the outline; cv2 {version})'
    if (major, minor) >= (4, 8):
        return f'OpenCV 4.8-4.10 fillPoly rule (border-clipped edges; cv2 {version})'
    return f'OpenCV<=4.7 fillPoly rule (cv2 {version})'


#: which OpenCV polygon-fill rule the agent rasterisation follows (the installed cv2 decides).
FILLPOLY_RULE = _fillpoly_rule(cv2.__version__)


class AgentTable(NamedTuple):
    """All agents of all samples, flattened (A agents in total).

    Attributes:
        sample_idx (np.ndarray): (A,) int64 index of the sample each agent belongs to.
        fut_xy (np.ndarray): (A, T, 2) float64 future centres in the current ego frame, metres.
        fut_yaw (np.ndarray): (A, T) float64 future yaws in the current ego frame, radians.
        fut_mask (np.ndarray): (A, T) bool, the agent exists at that step.
        length (np.ndarray): (A,) float64 box length (along the agent's heading), metres.
        width (np.ndarray): (A,) float64 box width, metres.
        label (np.ndarray): (A,) int64 nuScenes detection label.
    """
    sample_idx: np.ndarray
    fut_xy: np.ndarray
    fut_yaw: np.ndarray
    fut_mask: np.ndarray
    length: np.ndarray
    width: np.ndarray
    label: np.ndarray


def _cell_centres(cfg: BEVCollisionConfig) -> np.ndarray:
    half = cfg.grid_size * cfg.resolution / 2.0
    return -half + cfg.resolution * (np.arange(cfg.grid_size) + 0.5)


def ego_footprint_offsets(cfg: BEVCollisionConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Offsets (metres) of the footprint sample points from the trajectory point.

    Returns:
        tuple: ``(ox (Kx,), oy (Ky,))``; the footprint is their Cartesian product (default 8 x 4).
    """
    centres = _cell_centres(cfg)
    x0 = cfg.ego_forward_offset - cfg.ego_length / 2.0
    x1 = cfg.ego_forward_offset + cfg.ego_length / 2.0
    ox = centres[(centres >= x0) & (centres <= x1)]
    oy = centres[(centres >= -cfg.ego_width / 2.0) & (centres <= cfg.ego_width / 2.0)]
    if ox.size == 0 or oy.size == 0:
        raise ValueError(f'the ego footprint covers no cell centre with {cfg}')
    return ox, oy


def to_cell_index(coord: np.ndarray, cfg: BEVCollisionConfig) -> np.ndarray:
    """Metres -> cell index: truncation toward zero, then clamping to ``[0, G-1]``."""
    half = cfg.grid_size * cfg.resolution / 2.0
    idx = np.trunc((coord + half) / cfg.resolution)
    return np.clip(idx, 0, cfg.grid_size - 1).astype(np.int64)


def ego_footprint_cells(points: np.ndarray,
                        cfg: BEVCollisionConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Cells of the ego footprint at each trajectory point.

    Args:
        points (np.ndarray): (..., 2) trajectory points (x forward, y left) in metres.
        cfg (BEVCollisionConfig): grid and footprint settings.

    Returns:
        tuple: ``(rows (..., Kx), cols (..., Ky))`` int64 cell indices; the footprint is every
        ``(rows[k], cols[l])`` pair.
    """
    points = np.asarray(points, dtype=np.float64)
    ox, oy = ego_footprint_offsets(cfg)
    rows = to_cell_index(points[..., 0:1] + ox, cfg)
    cols = to_cell_index(points[..., 1:2] + oy, cfg)
    return rows, cols


def agent_polygons(xy: np.ndarray, yaw: np.ndarray, length: np.ndarray, width: np.ndarray,
                   cfg: BEVCollisionConfig) -> np.ndarray:
    """Integer pixel polygons of agent boxes, ready for :func:`cv2.fillPoly`.

    Args:
        xy (np.ndarray): (C, 2) centres in metres (ego frame). yaw (np.ndarray): (C,) radians.
        length (np.ndarray): (C,) metres along the heading. width (np.ndarray): (C,) metres.
        cfg (BEVCollisionConfig): grid settings.

    Returns:
        np.ndarray: (C, 4, 2) int32 corners as OpenCV points ``(col, row)``, i.e. ``(y, x)`` pixels,
        rounded to the nearest integer (``np.round``) like the reference code.
    """
    cos, sin = np.cos(yaw), np.sin(yaw)
    hl, hw = length[:, None] / 2.0, width[:, None] / 2.0
    lx = np.array([1.0, -1.0, -1.0, 1.0]) * hl  # (C, 4) local corners
    ly = np.array([1.0, 1.0, -1.0, -1.0]) * hw
    gx = xy[:, 0:1] + cos[:, None] * lx - sin[:, None] * ly
    gy = xy[:, 1:2] + sin[:, None] * lx + cos[:, None] * ly
    half = cfg.grid_size * cfg.resolution / 2.0
    row = (gx + half) / cfg.resolution - 0.5
    col = (gy + half) / cfg.resolution - 0.5
    return np.round(np.stack([col, row], axis=-1)).astype(np.int32)


def footprint_collisions(trajs: np.ndarray,
                         agents: AgentTable,
                         label_ids: Tuple[int, ...],
                         cfg: BEVCollisionConfig,
                         occupied_steps: Optional[np.ndarray] = None) -> np.ndarray:
    """Whether the ego footprint overlaps occupied cells, for several trajectories per sample.

    Args:
        trajs (np.ndarray): (S, M, T, 2) M ego trajectories per sample (e.g. prediction and GT),
            ego frame, metres.
        agents (AgentTable): all agents; only labels in ``label_ids`` are occupancy.
        label_ids (tuple[int]): nuScenes detection labels that occupy cells.
        cfg (BEVCollisionConfig): grid and footprint settings.
        occupied_steps (np.ndarray, optional): (S, T) bool; these steps are fully occupied (every
            footprint collides), e.g. UniAD's frames past the scene end.

    Returns:
        np.ndarray: (S, M, T) bool collision flags.
    """
    trajs = np.asarray(trajs, dtype=np.float64)
    S, M, T, _ = trajs.shape
    rows, cols = ego_footprint_cells(trajs, cfg)  # (S, M, T, Kx), (S, M, T, Ky)
    out = np.zeros((S, M, T), dtype=bool)
    if occupied_steps is not None:
        out |= np.asarray(occupied_steps, dtype=bool)[:, None, :]

    keep = np.isin(agents.label, np.asarray(label_ids, dtype=np.int64))
    a_idx, t_idx = np.nonzero(agents.fut_mask & keep[:, None])
    if a_idx.size == 0:
        return out
    s_idx = agents.sample_idx[a_idx]
    if occupied_steps is not None:  # already colliding everywhere: nothing to draw
        free = ~out[s_idx, 0, t_idx]
        a_idx, t_idx, s_idx = a_idx[free], t_idx[free], s_idx[free]

    # conservative pre-filter: the agent centre must lie within its half diagonal (+ rounding
    # margin) of one of the footprint blocks tested at that step
    half = cfg.grid_size * cfg.resolution / 2.0
    centre = agents.fut_xy[a_idx, t_idx]
    crow = (centre[:, 0] + half) / cfg.resolution - 0.5
    ccol = (centre[:, 1] + half) / cfg.resolution - 0.5
    reach = np.hypot(agents.length[a_idx], agents.width[a_idx]) / 2.0 / cfg.resolution + 2.0
    r_lo, r_hi = rows.min(-1)[s_idx, :, t_idx], rows.max(-1)[s_idx, :, t_idx]  # (C, M)
    c_lo, c_hi = cols.min(-1)[s_idx, :, t_idx], cols.max(-1)[s_idx, :, t_idx]
    near = ((crow[:, None] >= r_lo - reach[:, None]) & (crow[:, None] <= r_hi + reach[:, None]) &
            (ccol[:, None] >= c_lo - reach[:, None]) & (ccol[:, None] <= c_hi + reach[:, None]))
    near = near.any(axis=1)
    a_idx, t_idx, s_idx = a_idx[near], t_idx[near], s_idx[near]
    if a_idx.size == 0:
        return out

    polys = agent_polygons(agents.fut_xy[a_idx, t_idx], agents.fut_yaw[a_idx, t_idx],
                           agents.length[a_idx], agents.width[a_idx], cfg)
    key = s_idx * T + t_idx
    order = np.argsort(key, kind='stable')
    key, polys = key[order], polys[order]
    uniq, starts = np.unique(key, return_index=True)
    ends = np.append(starts[1:], key.size)
    canvas = np.zeros((cfg.grid_size, cfg.grid_size), dtype=np.uint8)
    for k, a, b in zip(uniq.tolist(), starts.tolist(), ends.tolist()):
        s, t = divmod(k, T)
        canvas.fill(0)
        for poly in polys[a:b]:  # one call per agent: a multi-contour call would XOR overlaps
            cv2.fillPoly(canvas, [poly], 1)
        for m in range(M):
            out[s, m, t] |= bool(canvas[rows[s, m, t][:, None], cols[s, m, t][None, :]].any())
    return out


def rasterize_occupancy(agents: AgentTable, sample: int, step: int, label_ids: Tuple[int, ...],
                        cfg: BEVCollisionConfig) -> np.ndarray:
    """The full (G, G) uint8 occupancy image of one sample and step (for debugging / plots).

    Indexed ``[row, col]`` = ``[x cell, y cell]``; same rasterisation as :func:`footprint_collisions`.
    """
    sel = ((agents.sample_idx == sample) & agents.fut_mask[:, step] &
           np.isin(agents.label, np.asarray(label_ids, dtype=np.int64)))
    canvas = np.zeros((cfg.grid_size, cfg.grid_size), dtype=np.uint8)
    idx = np.nonzero(sel)[0]
    if idx.size:
        polys = agent_polygons(agents.fut_xy[idx, step], agents.fut_yaw[idx, step], agents.length[idx],
                               agents.width[idx], cfg)
        for poly in polys:
            cv2.fillPoly(canvas, [poly], 1)
    return canvas
