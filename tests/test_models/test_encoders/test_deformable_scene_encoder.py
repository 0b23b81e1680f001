# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.encoders import DeformableSceneEncoder, TorchMSDeformAttn, ms_deform_attn_torch

mmcv_ops = pytest.importorskip('mmcv.ops')


def _random_inputs(bsz=2, n_q=5, heads=2, levels=2, points=3, dim=4, shapes=((6, 5), (3, 4)), seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes_t = torch.tensor(shapes, dtype=torch.long)
    n_v = int((shapes_t[:, 0] * shapes_t[:, 1]).sum())
    value = torch.randn(bsz, n_v, heads, dim, generator=g)
    loc = torch.rand(bsz, n_q, heads, levels, points, 2, generator=g) * 1.2 - 0.1  # some outside the map
    w = torch.rand(bsz, n_q, heads, levels, points, generator=g)
    w = w / w.sum(dim=(-1, -2), keepdim=True)
    return value, shapes_t, loc, w


def test_core_equals_mmcv_pytorch_function():
    value, shapes, loc, w = _random_inputs()
    ours = ms_deform_attn_torch(value, shapes, loc, w)
    ref = mmcv_ops.multi_scale_deform_attn.multi_scale_deformable_attn_pytorch(value, shapes, loc, w)
    assert ours.shape == (2, 5, 8)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-5)


def test_core_rejects_wrong_value_length():
    value, shapes, loc, w = _random_inputs()
    with pytest.raises(ValueError, match='spatial_shapes'):
        ms_deform_attn_torch(value[:, :-1], shapes, loc, w)


def test_module_equals_mmcv_module_with_same_weights():
    torch.manual_seed(0)
    ref = mmcv_ops.MultiScaleDeformableAttention(
        embed_dims=16, num_heads=4, num_levels=1, num_points=3, dropout=0.0, batch_first=True
    )
    ref.init_weights()
    ours = TorchMSDeformAttn(16, num_heads=4, num_levels=1, num_points=3)
    # the same initialisation (deterministic parts) and then the same random weights
    torch.testing.assert_close(ours.sampling_offsets.bias, ref.sampling_offsets.bias)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.3)
    ours.load_state_dict(ref.state_dict())
    q, pos, val = torch.randn(2, 7, 16), torch.randn(2, 7, 16), torch.randn(2, 30, 16)
    ref_pts = torch.rand(2, 7, 1, 2)
    shapes, start = torch.tensor([[5, 6]]), torch.tensor([0])
    kw = dict(query_pos=pos, reference_points=ref_pts, spatial_shapes=shapes, level_start_index=start)
    torch.testing.assert_close(ours(q, val, **kw), ref(query=q, value=val, **kw), atol=1e-5, rtol=1e-5)


def test_scene_encoder_mmcv_and_pytorch_agree():
    torch.manual_seed(0)
    enc_mmcv = DeformableSceneEncoder(8, embed_dims=16, num_queries=4, num_heads=2, num_layers=2, impl='mmcv')
    enc_torch = DeformableSceneEncoder(8, embed_dims=16, num_queries=4, num_heads=2, num_layers=2, impl='pytorch')
    assert type(enc_mmcv.attn[0]).__name__ == 'MultiScaleDeformableAttention'
    assert isinstance(enc_torch.attn[0], TorchMSDeformAttn)
    with torch.no_grad():
        for p in enc_mmcv.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    enc_torch.load_state_dict(enc_mmcv.state_dict())
    bev = torch.randn(3, 8, 6, 5)
    out = enc_torch(bev)
    assert out.shape == (3, 16)
    torch.testing.assert_close(out, enc_mmcv(bev), atol=1e-5, rtol=1e-5)
    # token input with bev_shape gives the same vector as the map
    enc_torch.bev_shape = (6, 5)
    torch.testing.assert_close(enc_torch(bev.flatten(2).transpose(1, 2)), out)


def test_scene_vector_depends_on_each_sample_only():
    torch.manual_seed(0)
    enc = DeformableSceneEncoder(8, embed_dims=16, num_queries=4, num_heads=2, impl='pytorch')
    bev = torch.randn(2, 8, 6, 6)
    out = enc(bev)
    assert not torch.allclose(out[0], out[1])
    torch.testing.assert_close(enc(bev[1:]), out[1:])


def test_scene_encoder_bad_inputs():
    with pytest.raises(ValueError, match='impl'):
        DeformableSceneEncoder(8, impl='cuda')
    enc = DeformableSceneEncoder(8, embed_dims=16, num_queries=4, num_heads=2, impl='pytorch')
    with pytest.raises(ValueError, match='bev_shape'):
        enc(torch.randn(1, 36, 8))
