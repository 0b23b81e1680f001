# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers of the AutoMoT tests (a uniquely named module: several test folders have a conftest.py)."""
import torch

from mmautomot.structures import DrivingDataSample


def tiny_automot_cfg(small_inputs=True):
    """The tiny AutoMoT model dict (same as projects/automot/configs/automot_tiny_*.py's)."""
    from mmengine.config import Config
    cfg = Config.fromfile('projects/automot/configs/automot_tiny_nuscenes-e2e.py')
    model = cfg.model.to_dict()
    model.pop('data_preprocessor', None)
    if small_inputs:  # test speed: 32x64 frames, 32x32 LiDAR BEV
        model['mot']['ue']['image_size'] = (32, 64)
        model['bev_encoder']['bev'] = dict(x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
    return model


def make_batch(bsz=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        img_hist=torch.randint(0, 256, (bsz, 2, 3, 32, 64), dtype=torch.uint8, generator=g),
        imgs=torch.randn(bsz, 1, 3, 64, 128, generator=g),
        points=[torch.randn(200, 4, generator=g) * 5 for _ in range(bsz)],
        ego_status=torch.rand(bsz, 4, generator=g) * 5,
        ego_hist_trajs=torch.randn(bsz, 4, 2, generator=g),
        target_point=torch.randn(bsz, 2, generator=g) * 10,
        command=torch.randint(0, 3, (bsz, ), generator=g))
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
