# Copyright (c) mmautomot contributors. All rights reserved.
"""Tiny mmdet3d PointPillars detectors with random weights, to test loading their LiDAR branch."""

from typing import Sequence

import torch
from torch import nn


def tiny_pointpillars_detector(
    point_cloud_range: Sequence[float],
    voxel_size: Sequence[float],
    feat_channels: int = 8,
    backbone_channels: Sequence[int] = (8, 16, 16),
    neck_channels: Sequence[int] = (8, 8, 8),
    seed: int = 1,
) -> nn.Module:
    """An mmdet3d ``VoxelNet`` in the layout of mmdet3d's ``pointpillars_hv_secfpn`` configs, tiny.

    ``PillarFeatureNet(in_channels=4, legacy=False)``, ``PointPillarsScatter``, ``SECOND`` (one layer per
    stage, strides 2), ``SECONDFPN`` (strides 1, 2, 4) and a one-class ``Anchor3DHead``; every parameter is
    redrawn from N(0, 1) and every float buffer from U(0.5, 1.5), so copied weights are easy to recognise.

    Args:
        point_cloud_range (Sequence[float]): (x_min, y_min, z_min, x_max, y_max, z_max).
        voxel_size (Sequence[float]): pillar size (x, y, z).
        feat_channels (int): pillar feature width. Defaults to 8.
        backbone_channels (Sequence[int]): SECOND stage widths. Defaults to (8, 16, 16).
        neck_channels (Sequence[int]): SECONDFPN widths. Defaults to (8, 8, 8).
        seed (int): torch seed of the weights. Defaults to 1.

    Returns:
        nn.Module: the detector (its ``state_dict()`` is what mmdet3d's Runner saves under ``state_dict``).
    """
    from mmautomot.models.encoders.pillar_bev_encoder import build_mmdet3d_module

    pcr, vs = list(point_cloud_range), list(voxel_size)
    nx, ny = (round((pcr[3] - pcr[0]) / vs[0]), round((pcr[4] - pcr[1]) / vs[1]))
    cfg = dict(
        type='VoxelNet',
        data_preprocessor=dict(
            type='Det3DDataPreprocessor',
            voxel=True,
            voxel_layer=dict(max_num_points=8, point_cloud_range=pcr, voxel_size=vs, max_voxels=(2000, 2000)),
        ),
        voxel_encoder=dict(
            type='PillarFeatureNet',
            in_channels=4,
            feat_channels=[feat_channels],
            voxel_size=vs,
            point_cloud_range=pcr,
            legacy=False,
        ),
        middle_encoder=dict(type='PointPillarsScatter', in_channels=feat_channels, output_shape=[ny, nx]),
        backbone=dict(
            type='SECOND',
            in_channels=feat_channels,
            layer_nums=[1, 1, 1],
            layer_strides=[2, 2, 2],
            out_channels=list(backbone_channels),
        ),
        neck=dict(
            type='SECONDFPN',
            in_channels=list(backbone_channels),
            upsample_strides=[1, 2, 4],
            out_channels=list(neck_channels),
        ),
        bbox_head=dict(
            type='Anchor3DHead',
            num_classes=1,
            in_channels=sum(neck_channels),
            feat_channels=sum(neck_channels),
            use_direction_classifier=True,
            anchor_generator=dict(
                type='AlignedAnchor3DRangeGenerator',
                ranges=[[pcr[0], pcr[1], -1.78, pcr[3], pcr[4], -1.78]],
                sizes=[[3.9, 1.6, 1.56]],
                rotations=[0, 1.57],
                reshape_out=True,
            ),
            diff_rad_by_sin=True,
            bbox_coder=dict(type='DeltaXYZWLHRBBoxCoder'),
        ),
        train_cfg=None,
        test_cfg=None,
    )
    det = build_mmdet3d_module(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in det.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        for b in det.buffers():
            if b.is_floating_point():
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
    return det
