# Copyright (c) mmautomot contributors. All rights reserved.
"""A tiny nuScenes-like e2e info pkl with real JPEGs and ``.pcd.bin`` files, built in tmp dirs.

Independent of the synthetic generator on purpose: the dataset and transform tests check the
loading code against hand-made, exactly known data.
"""

import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest

from mmautomot.structures.info_format import INFO_VERSION

# nuScenes-like LIDAR_TOP mounting: lidar x right / y forward -> ego x forward / y left.
LIDAR2EGO = np.array(
    [[0.0, 1.0, 0.0, 0.943], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.84], [0.0, 0.0, 0.0, 1.0]], dtype=np.float32
)
SPEED = 10.0  # m/s, straight along global +x
DT = 0.5
CAMS = ('CAM_FRONT', 'CAM_BACK')
IMG_HW = (36, 64)


def _translation(x: float) -> np.ndarray:
    mat = np.eye(4, dtype=np.float32)
    mat[0, 3] = x
    return mat


def build_tiny_e2e(root: str, num_samples: int = 3, num_agents: int = 2) -> str:
    """Write ``num_samples`` consecutive samples of one scene under ``root``; return the pkl path.

    Sample ``i`` is at time ``i * 0.5`` s with the ego at global x = ``5 i`` (10 m/s straight).
    Its LiDAR file holds the points lidar (0, 10, 0) and (1, 0, 0) with intensity ``i`` (5 values
    per point); its sweeps are the earlier keyframes (newest first). Images are solid colours
    of size 36x64 (BGR value ``(10 i, 20, 30)`` in the file). The last sample has only 2 valid
    future steps.
    """
    rng = np.random.default_rng(0)
    data_list = []
    for i in range(num_samples):
        for cam in CAMS:
            img = np.zeros(IMG_HW + (3,), np.uint8)
            img[:] = (10 * i, 20, 30 if cam == 'CAM_FRONT' else 40)
            path = osp.join(root, 'samples', cam, f'{i}.jpg')
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, img)
        pts = np.array([[0, 10, 0, i, 0], [1, 0, 0, i, 1]], dtype=np.float32)
        lidar_rel = f'samples/LIDAR_TOP/{i}.pcd.bin'
        os.makedirs(osp.join(root, 'samples', 'LIDAR_TOP'), exist_ok=True)
        pts.tofile(osp.join(root, lidar_rel))
        valid = 2 if i == num_samples - 1 else 6
        n_agents = num_agents if i % 2 == 0 else 0
        info = dict(
            sample_idx=i,
            token=f'tok{i}',
            scene_token='scene0',
            timestamp=i * DT,
            ego2global=_translation(5.0 * i),
            lidar_points=dict(lidar_path=lidar_rel, num_pts_feats=5, lidar2ego=LIDAR2EGO),
            lidar_sweeps=[
                dict(
                    lidar_points=dict(lidar_path=f'samples/LIDAR_TOP/{j}.pcd.bin', lidar2ego=LIDAR2EGO),
                    ego2global=_translation(5.0 * j),
                    timestamp=j * DT,
                )
                for j in range(i - 1, -1, -1)
            ],
            images={
                cam: dict(
                    img_path=f'samples/{cam}/{i}.jpg',
                    cam2img=np.array([[32.0, 0, 32], [0, 32.0, 18], [0, 0, 1]], np.float32),
                    cam2ego=np.eye(4, dtype=np.float32),
                    lidar2cam=np.eye(4, dtype=np.float32),
                    sample_data_token=f'sd{i}{cam}',
                    timestamp=i * DT,
                )
                for cam in CAMS
            },
            cam_front_hist=[
                dict(img_path=f'samples/CAM_FRONT/{j}.jpg', timestamp=j * DT) for j in range(max(0, i - 3), i + 1)
            ],
            instances=[],
            ego_fut_trajs=np.stack([np.arange(1, 7) * SPEED * DT, np.zeros(6)], 1).astype(np.float32),
            ego_fut_masks=(np.arange(6) < valid).astype(np.float32),
            # the LiDAR origin's future positions (ego frame): straight driving, the mount 0.943 m ahead
            ego_fut_lidar_trajs=np.stack([np.arange(1, 7) * SPEED * DT + LIDAR2EGO[0, 3], np.zeros(6)], 1).astype(
                np.float32
            ),
            ego_hist_trajs=np.stack([-np.arange(4, 0, -1) * SPEED * DT, np.zeros(4)], 1).astype(np.float32),
            ego_status=np.array([SPEED, 0, 0, 0], np.float32),
            can_bus=True,
            command=2,
            target_point=np.array([30.0, 0.0], np.float32),
            meta_actions=np.array([[2, 2], [2, 2], [2, 2]], np.int64),
            ego_path=np.stack([np.arange(1, 21, dtype=np.float32), np.zeros(20, np.float32)], 1),
            ego_path_masks=np.ones(20, np.float32),
            plan_agent_boxes=rng.normal(size=(n_agents, 7)).astype(np.float32),
            plan_agent_labels=np.zeros(n_agents, np.int64),
            plan_agent_fut_trajs=rng.normal(size=(n_agents, 6, 2)).astype(np.float32),
            plan_agent_fut_yaws=np.zeros((n_agents, 6), np.float32),
            plan_agent_fut_masks=np.ones((n_agents, 6), np.float32),
        )
        data_list.append(info)
    metainfo = dict(
        dataset='nuscenes',
        version='v1.0-tiny-test',
        info_version=INFO_VERSION,
        categories={'car': 0, 'pedestrian': 8},
        cam_names=list(CAMS),
        planning=dict(
            fut_steps=6, plan_dt=DT, hist_steps=4, path_points=20, path_spacing=1.0, ue_hist_frames=4, ue_hist_dt=DT
        ),
    )
    ann_file = osp.join(root, 'nuscenes_infos_val.pkl')
    with open(ann_file, 'wb') as f:
        pickle.dump(dict(metainfo=metainfo, data_list=data_list), f)
    return ann_file


@pytest.fixture
def tiny_e2e_root(tmp_path):
    """``(data_root, ann_file)`` of a fresh 3-sample tiny dataset (ann_file relative)."""
    ann = build_tiny_e2e(str(tmp_path))
    return str(tmp_path) + '/', osp.basename(ann)


@pytest.fixture
def tiny_e2e_infos(tiny_e2e_root):
    """The parsed infos (absolute paths) of the tiny dataset, via :class:`NuScenesE2EDataset`."""
    from mmautomot.datasets import NuScenesE2EDataset

    root, ann = tiny_e2e_root
    ds = NuScenesE2EDataset(ann_file=ann, data_root=root)
    return [ds.get_data_info(i) for i in range(len(ds))]
