# Copyright (c) mmautomot contributors. All rights reserved.
"""The trajectory reference point of the collision check (``BEVCollisionConfig.ego_reference``).

Our ego trajectories (``gt_ego_fut_trajs`` and the predictions) are positions of the ego origin, the
rear axle, in the current ego frame. The published protocols' labels (VAD's ``ego_fut_trajs``, UniAD's
``sdc_planning``) are positions of the LIDAR_TOP origin in the current LiDAR frame, and their ego box is
centred 0.5 m ahead of that point; on nuScenes the LiDAR sits about 0.94 m ahead of the rear axle, so
the rear-axle trajectory would put the box about 0.94 m too far back.

The *reference frame* used by :mod:`.bev_collision` has its origin at the reference point of the
current frame, x forward and y left. With ``lidar2ego`` = ``[[R, t], [0, 1]]``:

* ``'lidar'``: origin ``t``, axes the LiDAR's turned by 90 degrees (x = LiDAR +y, y = LiDAR -x; only
  the yaw of ``R`` is used, nuScenes' roll/pitch are < 0.1 degrees). A trajectory point ``p_k`` moves
  to ``p_k + (q_k - g_k)`` with ``g_k`` the GT rear-axle point and ``q_k`` the GT LiDAR origin
  (``gt_ego_fut_lidar_trajs``) at step ``k``: exact for the GT, and the prediction is taken to share
  the GT heading. L2 is computed before and does not change.
* ``'lidar_fixed'``: as ``'lidar'`` but with the current lever arm ``t`` for every step (no rotation
  with the heading), so only ``lidar2ego`` is needed.
* ``'ego'``: the trajectories and agents as given (origin at the rear axle, ego axes).
"""

from typing import Optional, Tuple

import numpy as np

from .bev_collision import AgentTable


def reference_transform(lidar2ego: Optional[np.ndarray], mode: str, num_samples: int) -> Tuple[np.ndarray, np.ndarray]:
    """Yaw offset and origin of the reference frame in each sample's ego frame.

    Args:
        lidar2ego (np.ndarray, optional): (S, 4, 4) LiDAR -> ego transforms (not needed for 'ego').
        mode (str): ``'lidar'``, ``'lidar_fixed'`` or ``'ego'``.
        num_samples (int): S.

    Returns:
        tuple: ``(yaw (S,), origin (S, 2))``: the reference x axis is the ego x axis turned by ``yaw``
        (radians, CCW), its origin ``origin`` (metres, ego frame).
    """
    if mode == 'ego':
        return np.zeros(num_samples), np.zeros((num_samples, 2))
    l2e = np.asarray(lidar2ego, dtype=np.float64)
    yaw = np.arctan2(l2e[:, 1, 0], l2e[:, 0, 0]) + np.pi / 2  # LiDAR +y is the reference +x
    yaw = (yaw + np.pi) % (2 * np.pi) - np.pi
    return yaw, l2e[:, :2, 3]


def to_reference(xy: np.ndarray, sample_idx: np.ndarray, yaw: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Ego-frame points (N, ..., 2) of samples ``sample_idx`` (N,) -> reference frame."""
    extra = (None,) * (xy.ndim - 2)
    c, s = np.cos(yaw)[sample_idx][(...,) + extra], np.sin(yaw)[sample_idx][(...,) + extra]
    d = xy - origin[sample_idx][(slice(None),) + extra]
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


def reference_trajectories(
    trajs: np.ndarray, gt: np.ndarray, gt_lidar: Optional[np.ndarray], yaw: np.ndarray, origin: np.ndarray, mode: str
) -> np.ndarray:
    """Ego trajectories (S, M, T, 2) (rear axle, ego frame) -> reference points, reference frame.

    Args:
        trajs (np.ndarray): (S, M, T, 2) trajectories to move (e.g. prediction and GT).
        gt (np.ndarray): (S, T, 2) GT rear-axle trajectory.
        gt_lidar (np.ndarray, optional): (S, T, 2) GT LiDAR-origin trajectory (ego frame); needed
            for ``'lidar'``.
        yaw, origin: from :func:`reference_transform`.
        mode (str): ``'lidar'``, ``'lidar_fixed'`` or ``'ego'``.
    """
    if mode == 'ego':
        return trajs
    if mode == 'lidar':  # the GT's lever arm at each step
        moved = trajs + (gt_lidar - gt)[:, None]
    else:  # the current lever arm, carried along unrotated
        moved = trajs + origin[:, None, None, :]
    return to_reference(moved, np.arange(trajs.shape[0]), yaw, origin)


def reference_agents(agents: AgentTable, yaw: np.ndarray, origin: np.ndarray) -> AgentTable:
    """Agents (ego frame) -> reference frame (centres moved and turned, yaws turned)."""
    if not np.any(yaw) and not np.any(origin):
        return agents
    return agents._replace(
        fut_xy=to_reference(agents.fut_xy, agents.sample_idx, yaw, origin),
        fut_yaw=agents.fut_yaw - yaw[agents.sample_idx][:, None],
    )
