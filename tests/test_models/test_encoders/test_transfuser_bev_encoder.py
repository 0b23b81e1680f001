# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import timm
import torch

from mmautomot.registry import MODELS

TINY = dict(
    type='TransFuserBEVEncoder',
    image_backbone='test_resnet',
    lidar_backbone='test_resnet',
    bev=dict(x_range=(-16.0, 16.0), y_range=(-16.0, 16.0), resolution=0.5),
    num_cams=2,
    img_anchors=(1, 2),
    bev_anchors=(2, 2),
    grid_size=4,
    out_channels=24,
)


def test_output_shape_grad_and_empty_cloud():
    torch.manual_seed(0)
    enc = MODELS.build(TINY)
    imgs = torch.randn(2, 2, 3, 64, 128, requires_grad=True)
    out = enc(imgs, [torch.randn(50, 4) * 8, torch.zeros(0, 4)])
    assert out.shape == (2, 16, 24)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert imgs.grad.abs().sum() > 0  # camera features reach the BEV tokens through the fusion


def test_default_grid_and_lidar_sensitivity():
    enc = MODELS.build(dict(TINY, num_cams=1, grid_size=8, out_channels=8)).eval()
    imgs = torch.zeros(1, 1, 3, 32, 64)
    with torch.no_grad():
        a = enc(imgs, [torch.zeros(0, 3)])
        b = enc(imgs, [torch.tensor([[5.0, 0.0, 1.0]]).repeat(20, 1)])
    assert a.shape == (1, 64, 8)
    assert not torch.allclose(a, b)


def test_single_height_bin():
    enc = MODELS.build(dict(TINY, bev=dict(TINY['bev'], use_ground_plane=False), num_cams=1))
    assert enc.lidar_encoder.conv1[0].weight.shape[1] == 1
    assert enc(torch.zeros(1, 1, 3, 32, 64), [torch.zeros(0, 3)]).shape == (1, 16, 24)


def test_errors():
    enc = MODELS.build(dict(TINY, num_cams=1))
    with pytest.raises(ValueError, match='at most 1'):
        enc(torch.zeros(1, 2, 3, 32, 64), [torch.zeros(0, 3)])
    with pytest.raises(ValueError, match='2 point clouds for a batch of 1'):
        enc(torch.zeros(1, 1, 3, 32, 64), [torch.zeros(0, 3)] * 2)
    with pytest.raises(ValueError, match='batch index 0 contain NaN'):
        enc(torch.zeros(1, 1, 3, 32, 64), [torch.full((2, 3), float('nan'))])


def test_local_checkpoint_is_loaded(tmp_path):
    torch.manual_seed(1)
    src = timm.create_model('test_resnet', pretrained=False)
    ckpt = tmp_path / 'test_resnet.pth'
    torch.save(src.state_dict(), ckpt)
    enc = MODELS.build(dict(TINY, image_checkpoint=str(ckpt), lidar_checkpoint=str(ckpt)))
    w_src = src.layer2[0].conv1.weight
    assert torch.equal(enc.image_encoder.layer2[0].conv1.weight, w_src)
    assert torch.equal(enc.lidar_encoder.layer2[0].conv1.weight, w_src)
    assert enc.lidar_encoder.conv1[0].weight.shape[1] == 2  # first conv adapted to the 2 BEV bins
