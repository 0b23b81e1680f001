# Copyright (c) mmautomot contributors. All rights reserved.
"""A random batch in the ``DrivingDataPreprocessor`` output contract (docs/contracts.md)."""

from typing import List, Tuple

import torch

from mmautomot.structures import DrivingDataSample


def demo_driving_batch(
    bsz: int = 2,
    seed: int = 0,
    hist_shape: Tuple[int, int, int] = (2, 32, 64),
    cam_shape: Tuple[int, int, int] = (1, 64, 128),
    num_points: int = 200,
) -> Tuple[dict, List[DrivingDataSample]]:
    """Random model inputs and data samples with planning GT, for tests of end-to-end models.

    Args:
        bsz (int): batch size. Defaults to 2.
        seed (int): generator seed (the batch is a pure function of the arguments). Defaults to 0.
        hist_shape (tuple): (N_hist, H, W) of the uint8 front-camera history. Defaults to (2, 32, 64).
        cam_shape (tuple): (N_cam, H, W) of the normalised current cameras. Defaults to (1, 64, 128).
        num_points (int): LiDAR points per sample (ego frame, metres). Defaults to 200.

    Returns:
        tuple: ``inputs`` (img_hist, imgs, points, ego_status, ego_hist_trajs, target_point, command) and
        a list of ``DrivingDataSample`` with ``prompt``, ``gt_meta_actions`` (3, 2), ``gt_ego_path``
        (20, 2) + mask and ``gt_ego_fut_trajs`` (6, 2) + mask.
    """
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        img_hist=torch.randint(0, 256, (bsz, *hist_shape[:1], 3, *hist_shape[1:]), dtype=torch.uint8, generator=g),
        imgs=torch.randn(bsz, cam_shape[0], 3, *cam_shape[1:], generator=g),
        points=[torch.randn(num_points, 4, generator=g) * 5 for _ in range(bsz)],
        ego_status=torch.rand(bsz, 4, generator=g) * 5,
        ego_hist_trajs=torch.randn(bsz, 4, 2, generator=g),
        target_point=torch.randn(bsz, 2, generator=g) * 10,
        command=torch.randint(0, 3, (bsz,), generator=g),
    )
    samples = []
    for i in range(bsz):
        ds = DrivingDataSample(metainfo=dict(prompt=f'sample {i}'))
        ds.gt_meta_actions = torch.randint(0, 4, (3, 2), generator=g)
        ds.gt_ego_path = torch.cumsum(torch.rand(20, 2, generator=g), 0)
        ds.gt_ego_path_masks = torch.ones(20)
        ds.gt_ego_fut_trajs = torch.cumsum(torch.rand(6, 2, generator=g) * 3, 0)
        ds.gt_ego_fut_masks = torch.ones(6)
        samples.append(ds)
    return inputs, samples
