# Copyright (c) mmautomot contributors. All rights reserved.
"""Write a tiny nuScenes-style info pkl holding only the planning fields (not collected).

Enough for configs whose pipeline is ``BuildPlanningTargets`` + ``PackDrivingInputs`` (the ego-state
baselines): no images, no LiDAR points (only the LiDAR mount, for the metric's reference point). Layout and frames as
in ``docs/contracts.md``: ego frame,
x forward, y left, metres; 6 future steps and 4 history steps at 0.5 s. The ego drives a unicycle
at constant speed and yaw rate, so the future is a smooth function of ``ego_status``.
"""

import os
import os.path as osp
import pickle

import numpy as np

from mmautomot.structures.commands import nuscenes_command_from_offset
from mmautomot.structures.info_format import INFO_VERSION

FUT_STEPS, HIST_STEPS, DT, PATH_POINTS = 6, 4, 0.5, 20
#: a nuScenes-like LIDAR_TOP mount (x right, y forward) 0.94 m ahead of the rear axle
LIDAR_X = 0.94
LIDAR2EGO = np.array([[0, 1, 0, LIDAR_X], [-1, 0, 0, 0], [0, 0, 1, 1.84], [0, 0, 0, 1]], np.float32)


def _unicycle(speed: float, yaw_rate: float, times: np.ndarray) -> np.ndarray:
    """(x, y) in the current ego frame at ``times`` (s) for constant speed and yaw rate."""
    if abs(yaw_rate) < 1e-6:
        return np.stack([speed * times, np.zeros_like(times)], -1)
    radius = speed / yaw_rate
    return np.stack([radius * np.sin(yaw_rate * times), radius * (1 - np.cos(yaw_rate * times))], -1)


def make_planning_info(idx: int, rng: np.random.Generator) -> dict:
    """One info dict with every planning field of the contract."""
    speed, yaw_rate = rng.uniform(2.0, 10.0), rng.uniform(-0.25, 0.25)
    t_fut = DT * np.arange(1, FUT_STEPS + 1)
    fut = _unicycle(speed, yaw_rate, t_fut)
    hist = _unicycle(speed, yaw_rate, -DT * np.arange(HIST_STEPS, 0, -1))
    path = _unicycle(1.0, yaw_rate / max(speed, 1e-3), np.arange(1, PATH_POINTS + 1, dtype=float))
    # Two static agents far to the sides: never on the ego's path.
    boxes = np.array([[30.0, 15.0, 0.8, 4.5, 1.9, 1.6, 0.0], [30.0, -15.0, 0.8, 4.5, 1.9, 1.6, 0.0]], np.float32)
    f32 = np.float32
    return dict(
        sample_idx=idx,
        token=f'tok{idx:04d}',
        scene_token=f'scene{idx // 8}',
        timestamp=float(idx) * DT,
        ego2global=np.eye(4, dtype=f32),
        ego_fut_trajs=fut.astype(f32),
        ego_fut_masks=np.ones(FUT_STEPS, f32),
        ego_fut_lidar_trajs=(fut + LIDAR_X * np.stack([np.cos(yaw_rate * t_fut), np.sin(yaw_rate * t_fut)], -1)).astype(
            f32
        ),
        # the mount only: the path is never read (the pipelines load no points)
        lidar_points=dict(
            lidar_path=f'samples/LIDAR_TOP/tok{idx:04d}.bin', num_pts_feats=5, lidar2ego=LIDAR2EGO.copy()
        ),
        ego_hist_trajs=hist.astype(f32),
        ego_status=np.array([speed, 0.0, speed * yaw_rate, yaw_rate], f32),
        can_bus=True,
        command=nuscenes_command_from_offset(float(fut[-1, 1])),
        target_point=fut[-1].astype(f32),
        meta_actions=np.zeros((3, 2), np.int64),
        ego_path=path.astype(f32),
        ego_path_masks=np.ones(PATH_POINTS, f32),
        plan_agent_boxes=boxes,
        plan_agent_labels=np.zeros(2, np.int64),
        plan_agent_fut_trajs=np.repeat(boxes[:, None, :2], FUT_STEPS, 1),
        plan_agent_fut_yaws=np.zeros((2, FUT_STEPS), f32),
        plan_agent_fut_masks=np.ones((2, FUT_STEPS), f32),
    )


def write_planning_infos(data_root: str, num_train: int = 16, num_val: int = 8, seed: int = 0) -> str:
    """Write ``nuscenes_infos_{train,val}.pkl`` under ``data_root`` and return ``data_root``."""
    os.makedirs(data_root, exist_ok=True)
    rng = np.random.default_rng(seed)
    metainfo = dict(
        dataset='nuscenes',
        version='v1.0-mini',
        info_version=INFO_VERSION,
        cam_names=['CAM_FRONT'],
        planning=dict(
            fut_steps=FUT_STEPS,
            plan_dt=DT,
            hist_steps=HIST_STEPS,
            path_points=PATH_POINTS,
            path_spacing=1.0,
            ue_hist_frames=4,
            ue_hist_dt=DT,
        ),
    )
    for split, num in (('train', num_train), ('val', num_val)):
        infos = [make_planning_info(i, rng) for i in range(num)]
        with open(osp.join(data_root, f'nuscenes_infos_{split}.pkl'), 'wb') as f:
            pickle.dump(dict(metainfo=metainfo, data_list=infos), f)
    return data_root
