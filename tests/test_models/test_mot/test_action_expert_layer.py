# Copyright (c) mmautomot contributors. All rights reserved.
import pytest

from mmautomot.models.mot import ActionExpertLayer
from mmautomot.registry import MODELS


def test_geometry_and_params():
    layer = MODELS.build(
        dict(type='ActionExpertLayer', hidden_size=48, intermediate_size=96, num_heads=4, num_kv_heads=2, head_dim=16)
    )
    a = layer.self_attn
    assert a.q_proj.weight.shape == (64, 48) and a.k_proj.weight.shape == (32, 48)
    assert a.v_proj.weight.shape == (32, 48) and a.o_proj.weight.shape == (48, 64)
    assert a.q_norm.weight.shape == (16,) and a.k_norm.weight.shape == (16,)
    n = sum(p.numel() for p in layer.parameters())
    # q,k,v,o + 3 FFN matrices + 2 hidden norms + 2 head norms
    assert n == 48 * 64 + 2 * 48 * 32 + 64 * 48 + 3 * 48 * 96 + 2 * 48 + 2 * 16


def test_bad_heads():
    with pytest.raises(ValueError, match='num_heads=6 is not a multiple of num_kv_heads=4'):
        ActionExpertLayer(32, 64, num_heads=6, num_kv_heads=4, head_dim=8)
