# Copyright (c) mmautomot contributors. All rights reserved.
"""CameraQueryBEVEncoder (camera-only BEV tokens) and the AutoMoT encoder swap."""

import pytest
import torch

from mmautomot.models.encoders import sine_position_2d
from mmautomot.registry import MODELS

CFG = dict(
    type='CameraQueryBEVEncoder',
    image_backbone='test_resnet',
    num_cams=2,
    embed_dims=16,
    num_layers=1,
    num_heads=2,
    grid_size=4,
    out_channels=12,
)


def test_tokens_contract_and_camera_dependence():
    torch.manual_seed(0)
    enc = MODELS.build(CFG).eval()
    imgs = torch.randn(2, 2, 3, 64, 96)
    with torch.no_grad():
        out = enc(imgs, None)
        assert out.shape == (2, 16, 12)
        # sample-independent, and every BEV token depends on the images (cross-attention)
        torch.testing.assert_close(enc(imgs[1:], None), out[1:], atol=1e-5, rtol=1e-5)
        alt = imgs.clone()
        alt[0, 1] = alt[0, 1].flip(-1)  # change the second camera of sample 0 only
        changed = enc(alt, None)[0]
        assert (changed - out[0]).abs().amax(-1).min() > 0
        # one camera of two is accepted (learned camera embedding per slot)
        assert enc(imgs[:, :1], None).shape == (2, 16, 12)
    with pytest.raises(ValueError, match='3 cameras but num_cams=2'):
        enc(torch.randn(1, 3, 3, 64, 96), None)
    with pytest.raises(ValueError, match=r'imgs must be \(B, N_cam, 3, H, W\), got None'):
        enc(None, [torch.zeros(3, 4)])


def test_sine_position_2d_rows_and_columns():
    pe = sine_position_2d(3, 5, 8)
    assert pe.shape == (15, 8)
    grid = pe.view(3, 5, 8)
    # first half depends on the row only, second half on the column only
    assert torch.equal(grid[:, :1, :4].expand(3, 5, 4), grid[..., :4])
    assert torch.equal(grid[:1, :, 4:].expand(3, 5, 4), grid[..., 4:])
    assert len({tuple(r.tolist()) for r in pe}) == 15
    with pytest.raises(ValueError, match='multiple of 4'):
        sine_position_2d(2, 2, 6)


def test_automot_reads_only_the_encoder_inputs():
    """A camera-only encoder needs no ``points``, a LiDAR-only one no ``imgs``; a missing one is named."""
    import sys

    sys.path.insert(0, 'tests/test_projects/test_automot')
    from automot_test_utils import tiny_automot_cfg

    import projects.automot.automot  # noqa: F401

    cfg = tiny_automot_cfg()
    cfg['bev_encoder'] = dict(
        type='CameraQueryBEVEncoder',
        image_backbone='test_resnet',
        num_cams=1,
        embed_dims=16,
        num_layers=1,
        num_heads=2,
        grid_size=8,
        out_channels=16,
    )
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    bsz = 2
    inputs = dict(
        imgs=torch.randn(bsz, 1, 3, 64, 128),
        target_point=torch.zeros(bsz, 2),
        ego_status=torch.zeros(bsz, 4),
        command=torch.zeros(bsz, dtype=torch.long),
    )
    tokens = model.ae_inputs(inputs)
    assert tokens.shape[:2] == (bsz, sum(model.tokens.group_sizes))
    inputs.pop('imgs')
    with pytest.raises(KeyError, match=r"inputs lack \['imgs'\]"):
        model.ae_inputs(dict(inputs, points=[torch.zeros(4, 4)] * bsz))
