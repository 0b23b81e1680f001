# Copyright (c) mmautomot contributors. All rights reserved.
"""Meta-action labels: a (lateral, longitudinal) decision per horizon (AutoMoT: 1 s / 2 s / 3 s).

Derived from a future ego trajectory in the current ego frame (x forward, y left, metres) sampled every
``dt`` seconds. For the horizon ``h`` the step ``k = round(h / dt)`` (1-based) is used:

* lateral: the heading change from now to step ``k`` (yaw of the segment ending at step ``k``, from the
  last two valid points; at step 1 the segment from the origin), in degrees, positive to the left:
  ``>= turn_deg`` left, ``>= slight_deg`` slight left, ``<= -turn_deg`` right, ``<= -slight_deg``
  slight right, else straight. If the ego moves less than ``min_move`` metres by step ``k`` the heading is
  undefined and the lateral class is ``straight``.
* longitudinal: the mean speed over the segment ending at step ``k`` (``|p_k - p_{k-1}| / dt``) against
  the current speed ``v0``: below ``stop_speed`` m/s is ``stop``; ``v - v0 <= -accel_delta`` decelerate,
  ``>= accel_delta`` accelerate, else keep.

A horizon whose step is masked out (future beyond the scene end) gets -1 for both parts (ignored by the
loss and the metric).
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np

LATERAL_CLASSES = ('left', 'slight_left', 'straight', 'slight_right', 'right')
LONGITUDINAL_CLASSES = ('stop', 'decelerate', 'keep', 'accelerate')
_LAT_TEXT = ('Left', 'Slight left', 'Straight', 'Slight right', 'Right')
_LON_TEXT = ('Stop', 'Decelerate', 'Keep', 'Accelerate')


@dataclass(frozen=True)
class MetaActionConfig:
    """Thresholds for :func:`derive_meta_actions` (degrees, metres, m/s)."""

    slight_deg: float = 5.0
    turn_deg: float = 20.0
    min_move: float = 0.5
    stop_speed: float = 0.5
    accel_delta: float = 1.0


def derive_meta_actions(
    fut_traj: np.ndarray,
    fut_mask: np.ndarray,
    cur_speed: float,
    dt: float = 0.5,
    horizons: Sequence[float] = (1.0, 2.0, 3.0),
    cfg: MetaActionConfig = MetaActionConfig(),
) -> np.ndarray:
    """Derive meta-action class ids from a future trajectory.

    Args:
        fut_traj (np.ndarray): (T, 2) future positions in the current ego frame, metres.
        fut_mask (np.ndarray): (T,) validity (non-zero = valid).
        cur_speed (float): current ego speed in m/s.
        dt (float): time between trajectory steps in seconds. Defaults to 0.5.
        horizons (Sequence[float]): horizons in seconds. Defaults to (1, 2, 3).
        cfg (MetaActionConfig): thresholds.

    Returns:
        np.ndarray: (len(horizons), 2) int64 of (lateral, longitudinal) indices into
        :data:`LATERAL_CLASSES` / :data:`LONGITUDINAL_CLASSES`; -1 where the step is invalid.
    """
    traj = np.asarray(fut_traj, dtype=np.float64).reshape(-1, 2)
    mask = np.asarray(fut_mask).reshape(-1).astype(bool)
    if traj.shape[0] != mask.shape[0]:
        raise ValueError(f'fut_traj has {traj.shape[0]} steps but fut_mask has {mask.shape[0]}')
    out = np.full((len(horizons), 2), -1, dtype=np.int64)
    pts = np.concatenate([np.zeros((1, 2)), traj], axis=0)  # step 0 = current position
    for i, h in enumerate(horizons):
        k = int(round(h / dt))
        if k < 1 or k > traj.shape[0] or not mask[:k].all():
            continue
        seg = pts[k] - pts[k - 1]
        if np.linalg.norm(pts[k]) < cfg.min_move or np.linalg.norm(seg) < 1e-6:
            lat = LATERAL_CLASSES.index('straight')
        else:
            yaw = np.degrees(np.arctan2(seg[1], seg[0]))
            if yaw >= cfg.turn_deg:
                lat = LATERAL_CLASSES.index('left')
            elif yaw >= cfg.slight_deg:
                lat = LATERAL_CLASSES.index('slight_left')
            elif yaw <= -cfg.turn_deg:
                lat = LATERAL_CLASSES.index('right')
            elif yaw <= -cfg.slight_deg:
                lat = LATERAL_CLASSES.index('slight_right')
            else:
                lat = LATERAL_CLASSES.index('straight')
        v = np.linalg.norm(seg) / dt
        if v < cfg.stop_speed:
            lon = LONGITUDINAL_CLASSES.index('stop')
        elif v - cur_speed <= -cfg.accel_delta:
            lon = LONGITUDINAL_CLASSES.index('decelerate')
        elif v - cur_speed >= cfg.accel_delta:
            lon = LONGITUDINAL_CLASSES.index('accelerate')
        else:
            lon = LONGITUDINAL_CLASSES.index('keep')
        out[i] = (lat, lon)
    return out


def meta_action_to_text(lat: int, lon: int) -> str:
    """``(3, 2)`` -> ``'[Slight right, Keep]'``; ``-1`` parts print as ``?``."""
    a = _LAT_TEXT[lat] if 0 <= lat < len(_LAT_TEXT) else '?'
    b = _LON_TEXT[lon] if 0 <= lon < len(_LON_TEXT) else '?'
    return f'[{a}, {b}]'
