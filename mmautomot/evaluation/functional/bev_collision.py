# Copyright (c) mmautomot contributors. All rights reserved.
"""Ego-footprint vs. agent-occupancy collision checks, aligned cell for cell with the reference code.

Inputs are in the *reference frame* (x forward, y left, metres, origin at the trajectory reference
point, see :mod:`.planning_reference`). Each protocol draws its own image, as its reference code does
(ST-P3 / VAD: ``metric_stp3.py``; UniAD: ``GenerateOccFlowLabels`` + ``planning_metrics.py``), with
``G`` = ``grid_size`` (200), ``r`` = ``resolution`` (0.5 m), ``u = -y`` (metres to the right) and
``v = x`` (metres forward), i.e. the references' own LiDAR axes:

================  ==========================================  ==========================================
layout            ``'vad'`` (ST-P3 / VAD)                     ``'uniad'`` (UniAD)
================  ==========================================  ==========================================
agent corner px   col ``round((u + G r/2) / r)``,             col ``round((u + G r/2) / r)``,
                  row ``round((-v + G r/2) / r)``             row ``round((v + G r/2) / r)``
footprint cells   row ``trunc(G - (v/r + f))``,               row ``trunc(v/r + f)``,
                  col ``trunc(u/r + l)``                      col ``trunc(u/r + l)``
vs. our grid      rotated 180 degrees                         mirrored sideways
================  ==========================================  ==========================================

``round`` is numpy's (half to even); footprint indices are clamped to ``[0, G-1]`` after truncation,
so a footprint leaving the grid is tested on the border cells; the footprint never rotates. ``f`` and
``l`` are the integer points inside the ego rectangle in the references' pixel units (skimage's
``polygon`` of its corners): ``f`` in ``[(o - L/2 - b) / r, (o + L/2 - b) / r]``, ``l`` in
``[(-W/2 - b) / r, (W/2 - b) / r]`` with ``b = -G r/2 + r/2``, ``o`` = ``ego_forward_offset``; with the
defaults ``f = 97..104`` and ``l = 98..101`` (8 x 4 cells). The references' footprint and boxes
therefore sit one cell apart sideways (both layouts) and, in UniAD, also along x; the published numbers
contain these offsets and so do ours.

Agent boxes: corners of the ``length x width`` rectangle (centre, yaw) mapped as above and filled with
:func:`cv2.fillPoly` (8-connected, no shift), one call per agent. OpenCV changed polygon filling twice
(opencv#23076 in 4.8: edges clipped at the image border; opencv#26187 in 4.11: the fill never exceeds
the polyline outline), so a run with OpenCV <= 4.7 or 4.8-4.10 can differ by single edge cells; the rule
in use is :data:`FILLPOLY_RULE` (requirements pin opencv-python 4.11, the >= 4.11 rule). For speed only
agents whose box can reach a tested footprint are drawn.

Occupancy grids can also be given directly (:func:`grid_collisions`), in mmautomot's layout: a
``(G, G)`` array indexed ``[i, j]`` with ``i`` growing forward (+x) and ``j`` growing to the left (+y).
Each protocol reads it in its own image layout: VAD's pixel ``(row, col)`` is our ``(G-1-row, G-1-col)``,
UniAD's is ``(row, G-1-col)``; so cell ``(i, j)`` is the reference pixel centred at
``x = -G r/2 + r (i + 1)`` (VAD) or ``x = -G r/2 + r i`` (UniAD) and ``y = -G r/2 + r (j + 1)`` (both).
"""

from typing import NamedTuple, Optional, Tuple

import cv2
import numpy as np

from .planning_protocols import GRID_LAYOUTS, BEVCollisionConfig


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
    """All agents of all samples, flattened (A agents in total), in the reference frame.

    Attributes:
        sample_idx (np.ndarray): (A,) int64 index of the sample each agent belongs to.
        fut_xy (np.ndarray): (A, T, 2) float64 future centres (x forward, y left), metres.
        fut_yaw (np.ndarray): (A, T) float64 future yaws (CCW from +x), radians.
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


def _check_layout(layout: str) -> None:
    if layout not in GRID_LAYOUTS:
        raise ValueError(f'grid layout must be one of {GRID_LAYOUTS}, got {layout!r}')


def _first_centre(cfg: BEVCollisionConfig) -> float:
    """``b``: the references' ``bx`` (centre of the first cell), metres."""
    return -cfg.grid_size * cfg.resolution / 2.0 + cfg.resolution / 2.0


def footprint_offsets(cfg: BEVCollisionConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Integer pixel offsets ``(f, l)`` of the ego footprint (the references' skimage polygon).

    Returns:
        tuple: ``f (Kf,)`` along x and ``l (Kl,)`` across (default ``97..104`` and ``98..101``);
        the footprint is their Cartesian product.
    """
    b, r = _first_centre(cfg), cfg.resolution
    o, hl, hw = cfg.ego_forward_offset, cfg.ego_length / 2.0, cfg.ego_width / 2.0
    f = np.arange(np.ceil((o - hl - b) / r), np.floor((o + hl - b) / r) + 1).astype(np.int64)
    lat = np.arange(np.ceil((-hw - b) / r), np.floor((hw - b) / r) + 1).astype(np.int64)
    if f.size == 0 or lat.size == 0:
        raise ValueError(f'the ego footprint covers no pixel centre with {cfg}')
    return f, lat


def footprint_pixels(points: np.ndarray, layout: str, cfg: BEVCollisionConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Cells of the ego footprint at trajectory points, in the protocol's image.

    Args:
        points (np.ndarray): (..., 2) trajectory points (x forward, y left), metres, reference frame.
        layout (str): ``'vad'`` or ``'uniad'``.
        cfg (BEVCollisionConfig): grid and footprint settings.

    Returns:
        tuple: ``(rows (..., Kf), cols (..., Kl))`` int64 image indices (truncated, then clamped);
        the footprint is every ``(rows[k], cols[m])`` pair.
    """
    _check_layout(layout)
    points = np.asarray(points, dtype=np.float64)
    f, lat = footprint_offsets(cfg)
    fwd = points[..., 0:1] / cfg.resolution + f
    rows = np.trunc(cfg.grid_size - fwd) if layout == 'vad' else np.trunc(fwd)
    cols = np.trunc(-points[..., 1:2] / cfg.resolution + lat)
    hi = cfg.grid_size - 1
    return np.clip(rows, 0, hi).astype(np.int64), np.clip(cols, 0, hi).astype(np.int64)


def agent_polygons(
    xy: np.ndarray, yaw: np.ndarray, length: np.ndarray, width: np.ndarray, layout: str, cfg: BEVCollisionConfig
) -> np.ndarray:
    """Integer pixel polygons of agent boxes in the protocol's image, ready for :func:`cv2.fillPoly`.

    Args:
        xy (np.ndarray): (C, 2) centres (x forward, y left), metres. yaw (np.ndarray): (C,) radians.
        length (np.ndarray): (C,) metres along the heading. width (np.ndarray): (C,) metres.
        layout (str): ``'vad'`` or ``'uniad'``.
        cfg (BEVCollisionConfig): grid settings.

    Returns:
        np.ndarray: (C, 4, 2) int32 corners as OpenCV points ``(col, row)``.
    """
    _check_layout(layout)
    cos, sin = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    hl, hw = length[:, None] / 2.0, width[:, None] / 2.0
    lx = np.array([1.0, -1.0, -1.0, 1.0]) * hl  # (C, 4) local corners
    ly = np.array([1.0, 1.0, -1.0, -1.0]) * hw
    gx = (cos * lx - sin * ly) + xy[:, 0:1]
    gy = (sin * lx + cos * ly) + xy[:, 1:2]
    return np.round(np.stack(_to_pixel(gx, gy, layout, cfg), axis=-1)).astype(np.int32)


def _to_pixel(x: np.ndarray, y: np.ndarray, layout: str, cfg: BEVCollisionConfig):
    """Metres -> unrounded pixel ``(col, row)`` of the protocol's image (the references' order)."""
    b, r = _first_centre(cfg), cfg.resolution
    col = ((-y - b) + r / 2.0) / r
    row = ((-x - b) + r / 2.0) / r if layout == 'vad' else ((x - b) + r / 2.0) / r
    return col, row


def grid_to_image(grid: np.ndarray, layout: str) -> np.ndarray:
    """Our ``[..., i, j]`` layout -> the protocol's image (a view; its own inverse)."""
    _check_layout(layout)
    return grid[..., ::-1, ::-1] if layout == 'vad' else grid[..., :, ::-1]


def image_to_grid(image: np.ndarray, layout: str) -> np.ndarray:
    """The protocol's image -> our ``[..., i, j]`` layout (a view)."""
    return grid_to_image(image, layout)


def _trajs_and_prior(trajs, occupied_steps):
    trajs = np.asarray(trajs, dtype=np.float64)
    S, M, T, _ = trajs.shape
    out = np.zeros((S, M, T), dtype=bool)
    if occupied_steps is not None:
        out |= np.asarray(occupied_steps, dtype=bool)[:, None, :]
    return trajs, out


def grid_collisions(
    trajs: np.ndarray,
    occupancy: np.ndarray,
    layout: str,
    cfg: BEVCollisionConfig,
    occupied_steps: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Whether the ego footprint overlaps occupied cells of given occupancy grids.

    Args:
        trajs (np.ndarray): (S, M, T, 2) M trajectories per sample, reference frame, metres.
        occupancy (np.ndarray): (S, T, G, G) occupancy in our layout (see the module docstring).
        layout (str): the protocol's image layout (``'vad'`` / ``'uniad'``).
        cfg (BEVCollisionConfig): grid and footprint settings.
        occupied_steps (np.ndarray, optional): (S, T) bool steps that are fully occupied.

    Returns:
        np.ndarray: (S, M, T) bool collision flags.
    """
    trajs, out = _trajs_and_prior(trajs, occupied_steps)
    G = cfg.grid_size
    occupancy = np.asarray(occupancy).astype(bool)
    S, M, T, _ = trajs.shape
    if occupancy.shape != (S, T, G, G):
        raise ValueError(f'occupancy must have shape (S, T, G, G) = {(S, T, G, G)}, got {occupancy.shape}')
    image = grid_to_image(occupancy, layout)
    rows, cols = footprint_pixels(trajs, layout, cfg)  # (S, M, T, Kf), (S, M, T, Kl)
    s = np.arange(S)[:, None, None, None, None]
    t = np.arange(T)[None, None, :, None, None]
    hit = image[s, t, rows[..., :, None], cols[..., None, :]].any(axis=(-1, -2))
    return out | hit


def footprint_collisions(
    trajs: np.ndarray,
    agents: AgentTable,
    label_ids: Tuple[int, ...],
    layout: str,
    cfg: BEVCollisionConfig,
    occupied_steps: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Whether the ego footprint overlaps rasterised agents, for several trajectories per sample.

    Args:
        trajs (np.ndarray): (S, M, T, 2) M ego trajectories per sample (e.g. prediction and GT),
            reference frame, metres.
        agents (AgentTable): all agents (reference frame); only labels in ``label_ids`` occupy cells.
        label_ids (tuple[int]): nuScenes detection labels that occupy cells.
        layout (str): the protocol's image layout (``'vad'`` / ``'uniad'``).
        cfg (BEVCollisionConfig): grid and footprint settings.
        occupied_steps (np.ndarray, optional): (S, T) bool; these steps are fully occupied (every
            footprint collides), e.g. UniAD's frames past the scene end.

    Returns:
        np.ndarray: (S, M, T) bool collision flags.
    """
    trajs, out = _trajs_and_prior(trajs, occupied_steps)
    S, M, T, _ = trajs.shape
    rows, cols = footprint_pixels(trajs, layout, cfg)  # (S, M, T, Kf), (S, M, T, Kl)

    keep = np.isin(agents.label, np.asarray(label_ids, dtype=np.int64))
    a_idx, t_idx = np.nonzero(agents.fut_mask & keep[:, None])
    if a_idx.size == 0:
        return out
    s_idx = agents.sample_idx[a_idx]
    if occupied_steps is not None:  # already colliding everywhere: nothing to draw
        free = ~out[s_idx, 0, t_idx]
        a_idx, t_idx, s_idx = a_idx[free], t_idx[free], s_idx[free]

    # conservative pre-filter: the agent's centre pixel must lie within its half diagonal (+ a
    # rounding margin) of one of the footprint blocks tested at that step
    centre = agents.fut_xy[a_idx, t_idx]
    ccol, crow = _to_pixel(centre[:, 0:1], centre[:, 1:2], layout, cfg)
    reach = np.hypot(agents.length[a_idx], agents.width[a_idx])[:, None] / 2.0 / cfg.resolution + 2.0
    r_lo, r_hi = rows.min(-1)[s_idx, :, t_idx], rows.max(-1)[s_idx, :, t_idx]  # (C, M)
    c_lo, c_hi = cols.min(-1)[s_idx, :, t_idx], cols.max(-1)[s_idx, :, t_idx]
    near = ((crow >= r_lo - reach) & (crow <= r_hi + reach) & (ccol >= c_lo - reach) & (ccol <= c_hi + reach)).any(
        axis=1
    )
    a_idx, t_idx, s_idx = a_idx[near], t_idx[near], s_idx[near]
    if a_idx.size == 0:
        return out

    polys = agent_polygons(
        agents.fut_xy[a_idx, t_idx],
        agents.fut_yaw[a_idx, t_idx],
        agents.length[a_idx],
        agents.width[a_idx],
        layout,
        cfg,
    )
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


def rasterize_occupancy(
    agents: AgentTable, sample: int, step: int, label_ids: Tuple[int, ...], layout: str, cfg: BEVCollisionConfig
) -> np.ndarray:
    """The full (G, G) uint8 occupancy of one sample and step, in our layout (for tests / plots).

    Drawn in the protocol's image exactly as :func:`footprint_collisions` does, then returned in our
    ``[i, j]`` layout (so :func:`grid_collisions` on it gives the same flags).
    """
    sel = (
        (agents.sample_idx == sample)
        & agents.fut_mask[:, step]
        & np.isin(agents.label, np.asarray(label_ids, dtype=np.int64))
    )
    canvas = np.zeros((cfg.grid_size, cfg.grid_size), dtype=np.uint8)
    idx = np.nonzero(sel)[0]
    if idx.size:
        polys = agent_polygons(
            agents.fut_xy[idx, step], agents.fut_yaw[idx, step], agents.length[idx], agents.width[idx], layout, cfg
        )
        for poly in polys:
            cv2.fillPoly(canvas, [poly], 1)
    return np.ascontiguousarray(image_to_grid(canvas, layout))
