# Copyright (c) mmautomot contributors. All rights reserved.
"""PointPillarsBEVEncoder: token contract, ego-frame layout, mmdet3d detector weights."""

import math
import pickle

import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint

from mmautomot.models.encoders.pillar_bev_encoder import build_mmdet3d_module
from mmautomot.registry import MODELS
from mmautomot.testing import tiny_pointpillars_detector
from mmautomot.utils.checkpoint_compat import UnsafeCheckpointError

PCR = [-8.0, -8.0, -3.0, 8.0, 8.0, 5.0]
VOXEL = [0.5, 0.5, 8.0]
TINY = dict(
    point_cloud_range=PCR,
    voxel_size=VOXEL,
    in_channels=4,
    max_num_points=8,
    max_voxels=(2000, 2000),
    voxel_encoder=dict(feat_channels=(8,)),
    backbone=dict(out_channels=[8, 16, 16], layer_nums=[1, 1, 1]),
    neck=dict(in_channels=[8, 16, 16], out_channels=[8, 8, 8]),
    grid_size=4,
    out_channels=12,
)


def tiny_encoder(**kw):
    torch.manual_seed(0)
    return MODELS.build(dict(type='PointPillarsBEVEncoder', **{**TINY, **kw}))


def test_token_contract_and_empty_cloud():
    enc = tiny_encoder()
    assert enc.out_channels == 12 and (enc.ny, enc.nx) == (32, 32)
    pts = [torch.randn(300, 5) * 4, torch.zeros(0, 5)]
    out = enc(torch.zeros(2, 1, 3, 8, 8), pts)
    assert out.shape == (2, 16, 12) and torch.isfinite(out).all()
    out.sum().backward()
    assert enc.voxel_encoder.pfn_layers[0].linear.weight.grad.abs().sum() > 0
    enc.eval()
    with torch.no_grad():
        a = enc(None, pts)
        # the clouds are independent: sample 1 alone gives the same tokens (batch 1 vs 2)
        torch.testing.assert_close(enc(None, pts[1:]), a[1:])
        # all-empty batch
        assert enc(None, [torch.zeros(0, 5)]).shape == (1, 16, 12)
    with pytest.raises(ValueError, match=r'cloud 0 must be \(N, C >= 4\)'):
        enc(None, [torch.zeros(10, 3)])
    with pytest.raises(ValueError, match='2 point clouds for a batch of 1 images'):
        enc(torch.zeros(1, 1, 3, 8, 8), pts)


def test_voxel_coordinates_follow_the_ego_frame():
    enc = tiny_encoder()
    # a point 5.2 m ahead and 2.2 m to the right; one to the left; one outside the range
    pts = torch.tensor([[5.2, -2.2, 0.0, 1.0], [-1.2, 3.7, 1.0, 1.0], [20.0, 0.0, 0.0, 1.0]])
    voxels, nums, coors = enc.voxelize([pts])
    assert voxels.shape[0] == 2 and nums.tolist() == [1, 1]
    got = {tuple(c) for c in coors.tolist()}
    # (batch, z, y, x) cells: x = floor((5.2 + 8) / 0.5) = 26, y = floor((-2.2 + 8) / 0.5) = 11
    assert got == {(0, 0, 11, 26), (0, 0, 23, 13)}


def _cell_centres(h, w, x0, y0, x1, y1):
    """Voxel-grid layout (rows +y, cols +x) of the cell-centre coordinates, (2, h, w)."""
    xs = x0 + (torch.arange(w) + 0.5) * (x1 - x0) / w
    ys = y0 + (torch.arange(h) + 0.5) * (y1 - y0) / h
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([gx, gy])


def test_to_ego_grid_puts_front_left_first():
    enc = tiny_encoder()
    feat = _cell_centres(32, 32, *PCR[:2], *PCR[3:5])[None]  # channel 0 = x, 1 = y of each cell
    ego = enc.to_ego_grid(feat)[0]
    # row 0 = farthest ahead (largest x), column 0 = farthest left (largest y)
    assert ego[0, 0, :].eq(7.75).all() and ego[0, -1, :].eq(-7.75).all()
    assert ego[1, :, 0].eq(7.75).all() and ego[1, :, -1].eq(-7.75).all()
    # the same map through the resampling path with an identity ego2sensor
    enc_id = tiny_encoder(ego2sensor=torch.eye(4).tolist())
    torch.testing.assert_close(enc_id.to_ego_grid(feat), enc.to_ego_grid(feat))


def test_sensor_frame_grid_is_resampled_into_the_ego_frame():
    """nuScenes-like LIDAR_TOP (x right, y forward, 1 m ahead): the grid lives in the sensor frame and
    every output cell reads the sensor cell under its ego-frame centre."""
    yaw = -math.pi / 2
    lidar2ego = np.eye(4)
    lidar2ego[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    lidar2ego[:3, 3] = [1.0, 0.0, 1.8]
    ego2lidar = np.linalg.inv(lidar2ego)
    enc = tiny_encoder(ego2sensor=ego2lidar.tolist(), bev_range=(-8.0, -8.0, 8.0, 8.0))
    feat = _cell_centres(32, 32, *PCR[:2], *PCR[3:5])[None]  # sensor coordinates of each sensor cell
    out = enc.to_ego_grid(feat)[0]
    xs = 8.0 - (torch.arange(32) + 0.5) * 0.5
    gx, gy = torch.meshgrid(xs, xs, indexing='ij')  # ego x (rows), ego y (columns)
    sx = ego2lidar[0, 0] * gx + ego2lidar[0, 1] * gy + ego2lidar[0, 3]
    sy = ego2lidar[1, 0] * gx + ego2lidar[1, 1] * gy + ego2lidar[1, 3]
    inside = (sx.abs() < 7.75) & (sy.abs() < 7.75)  # away from the zero-padded border
    torch.testing.assert_close(out[0][inside], sx[inside].float(), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[1][inside], sy[inside].float(), atol=1e-4, rtol=0)
    # and the points are voxelised in the sensor frame: 5 m ahead in ego = 4 m along the LiDAR's +y
    _, _, coors = enc.voxelize([torch.tensor([[5.0, 0.2, 0.0, 1.0]])])
    assert coors.tolist() == [[0, 0, 24, 15]]  # LiDAR (x, y) = (-0.2, 4): y = (4 + 8) / 0.5, x = 7.8 / 0.5


# ----------------------------------------------------------------------------- mmdet3d detector weights
def _tiny_voxelnet():
    """A tiny mmdet3d PointPillars detector (VoxelNet, mmdet3d's pointpillars_hv_secfpn layout)."""
    return tiny_pointpillars_detector(PCR, VOXEL)


def _tiny_mvx_nus():
    """A tiny MVXFasterRCNN LiDAR branch in mmdet3d's nuScenes PointPillars layout (HardVFE + mmdet FPN)."""
    cfg = dict(
        type='MVXFasterRCNN',
        pts_voxel_encoder=dict(
            type='HardVFE',
            in_channels=4,
            feat_channels=[8, 8],
            with_distance=False,
            voxel_size=VOXEL,
            with_cluster_center=True,
            with_voxel_center=True,
            point_cloud_range=PCR,
            norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
        ),
        pts_middle_encoder=dict(type='PointPillarsScatter', in_channels=8, output_shape=[32, 32]),
        pts_backbone=dict(
            type='SECOND', in_channels=8, layer_nums=[1, 1, 1], layer_strides=[2, 2, 2], out_channels=[8, 16, 16]
        ),
        pts_neck=dict(
            type='mmdet.FPN',
            in_channels=[8, 16, 16],
            out_channels=8,
            start_level=0,
            num_outs=3,
            norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
            act_cfg=dict(type='ReLU'),
        ),
    )
    torch.manual_seed(2)
    det = build_mmdet3d_module(cfg)
    for p in det.parameters():
        p.data.copy_(torch.randn_like(p))
    return det


#: the encoder modules matching :func:`_tiny_mvx_nus`
MVX_NUS_LAYOUT = dict(
    voxel_encoder=dict(
        type='HardVFE',
        feat_channels=[8, 8],
        with_cluster_center=True,
        with_voxel_center=True,
        norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
    ),
    neck=dict(
        type='mmdet.FPN',
        in_channels=[8, 16, 16],
        out_channels=8,
        start_level=0,
        num_outs=3,
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        act_cfg=dict(type='ReLU'),
    ),
)


def _check_equal(enc, det, prefix):
    ours = enc.state_dict()
    theirs = det.state_dict()
    keys = [k for k in ours if k.split('.')[0] in ('voxel_encoder', 'backbone', 'neck')]
    assert len(keys) > 10
    for k in keys:
        assert torch.equal(ours[k], theirs[prefix + k]), k


def test_voxelnet_weights_load_by_config_key(tmp_path):
    det = _tiny_voxelnet()
    ckpt = str(tmp_path / 'pointpillars.pth')
    # the layout mmengine's Runner writes (meta + state_dict), saved by mmengine
    save_checkpoint(dict(meta=dict(epoch=3, dataset_meta=dict(classes=['Car'])), state_dict=det.state_dict()), ckpt)
    enc = tiny_encoder(pretrained=dict(checkpoint=ckpt))
    assert not torch.equal(enc.backbone.blocks[0][0].weight, det.backbone.blocks[0][0].weight)
    enc.init_weights()
    _check_equal(enc, det, '')
    # the encoder now computes the detector's pseudo image and neck features
    enc.eval(), det.eval()
    pts = torch.randn(400, 4) * 3
    with torch.no_grad():
        voxels, nums, coors = enc.voxelize([pts])
        canvas = enc.middle_encoder(enc.voxel_encoder(voxels, nums, coors), coors, 1)
        ref = det.neck(det.backbone(det.middle_encoder(det.voxel_encoder(voxels, nums, coors), coors, 1)))
        torch.testing.assert_close(enc.neck(enc.backbone(canvas))[0], ref[0])


def test_mvx_nuscenes_layout_weights_load_with_auto_prefix(tmp_path):
    det = _tiny_mvx_nus()
    ckpt = str(tmp_path / 'mvx.pth')
    torch.save(dict(state_dict=det.state_dict()), ckpt)
    enc = tiny_encoder(**MVX_NUS_LAYOUT, pretrained=dict(checkpoint=ckpt, prefix='auto'))
    enc.init_weights()
    _check_equal(enc, det, 'pts_')
    assert enc(None, [torch.randn(50, 5)]).shape == (1, 16, 12)


def test_mismatched_or_unsafe_checkpoint_fails_clearly(tmp_path):
    det = _tiny_voxelnet()
    ckpt = str(tmp_path / 'pp.pth')
    torch.save(dict(state_dict=det.state_dict()), ckpt)
    wider = tiny_encoder(
        backbone=dict(out_channels=[8, 16, 32], layer_nums=[1, 1, 1]),
        neck=dict(in_channels=[8, 16, 32], out_channels=[8, 8, 8]),
        pretrained=dict(checkpoint=ckpt),
    )
    with pytest.raises(ValueError, match=r"pp.pth' does not match backbone: shape mismatch.*backbone.blocks.2"):
        wider.init_weights()
    deeper = tiny_encoder(
        backbone=dict(out_channels=[8, 16, 16], layer_nums=[1, 2, 1]), pretrained=dict(checkpoint=ckpt)
    )
    with pytest.raises(KeyError, match=r"does not match backbone .*missing \['blocks.1.6.weight'"):
        deeper.init_weights()
    with pytest.raises(KeyError, match=r"cannot tell the LiDAR branch prefix.*'bbox_head'"):
        load = tiny_encoder(pretrained=dict(checkpoint=ckpt, prefix='auto'))
        torch.save(
            dict(state_dict={k: v for k, v in det.state_dict().items() if not k.startswith('voxel_encoder')}), ckpt
        )
        load.init_weights()

    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))

    evil = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=det.state_dict(), meta=Evil()), evil, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        tiny_encoder(pretrained=dict(checkpoint=evil)).init_weights()


def test_bf16_encoder_takes_float32_clouds():
    """Voxelization runs in float32 (mmcv op), the modules in the encoder's dtype (mixed precision)."""
    enc = tiny_encoder().to(torch.bfloat16).eval()
    with torch.no_grad():
        out = enc(None, [torch.randn(100, 5) * 4, torch.zeros(0, 5)])
        assert out.dtype == torch.bfloat16 and out.shape == (2, 16, 12) and torch.isfinite(out.float()).all()
        assert enc(None, [torch.zeros(0, 4)]).dtype == torch.bfloat16


def test_pseudo_image_cells_match_the_transfuser_histogram_convention():
    """voxelize -> mmdet3d's PointPillarsScatter -> to_ego_grid puts a point in the same (row, col) cell as
    ``lidar_to_bev_histogram`` does (row 0 ahead, column 0 left)."""
    from mmautomot.models.encoders import bev_cell_of, lidar_to_bev_histogram

    enc = tiny_encoder()
    for x, y in [(6.1, 5.2), (-3.3, 7.9), (0.2, -6.6)]:
        pts = torch.tensor([[x, y, 0.5, 1.0]])
        voxels, nums, coors = enc.voxelize([pts])
        canvas = enc.middle_encoder(torch.ones(len(voxels), enc.middle_encoder.in_channels), coors, 1)
        ego = enc.to_ego_grid(canvas)[0, 0]
        hist = lidar_to_bev_histogram([pts], x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)[0].sum(0)
        assert torch.equal(ego, (hist > 0).float())
        row, col = bev_cell_of(x, y, x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
        assert ego[row, col] == 1 and ego.sum() == 1


def test_explicit_key_map_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    from mmautomot.models.encoders.mmdet3d_weights import load_detector_branch

    det = _tiny_mvx_nus()
    path = str(tmp_path / 'mvx.safetensors')
    save_file({k: v.contiguous() for k, v in det.state_dict().items()}, path)
    enc = tiny_encoder(**MVX_NUS_LAYOUT)
    report = load_detector_branch(
        enc.lidar_modules(),
        path,
        prefix=None,
        key_map=dict(voxel_encoder='pts_voxel_encoder', backbone='pts_backbone', neck='pts_neck'),
    )
    _check_equal(enc, det, 'pts_')
    assert report['ignored'] == [] and len(report['loaded']) == len(
        [k for k in det.state_dict() if not k.startswith('pts_middle')]
    )
    with pytest.raises(KeyError, match=r"key_map names \['head'\]"):
        load_detector_branch(enc.lidar_modules(), path, key_map=dict(head='pts_bbox_head'))
