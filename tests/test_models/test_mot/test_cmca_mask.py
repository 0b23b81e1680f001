# Copyright (c) mmautomot contributors. All rights reserved.
import torch

from mmautomot.models.mot import build_cmca_mask, build_task_mask


def test_cmca_blocks():
    # sample 0: 5 world-language tokens, the last one padding; 2 ego-state tokens; 3 noisy action tokens
    valid = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    m = build_cmca_mask(valid, 2, 3)
    assert m.shape == (2, 1, 10, 10) and m.dtype == torch.bool
    m0 = m[0, 0]
    W, S, A = slice(0, 5), slice(5, 7), slice(7, 10)
    # world-language block: bidirectional among real tokens (upper triangle too), never padding
    assert m0[0:4, 0:4].all()
    assert not m0[:, 4].any()
    # nothing in the world-language block sees the planning expert
    assert not m0[W, S].any() and not m0[W, A].any()
    # ego-state group: all real world tokens, itself both ways, not the noisy actions
    assert m0[S, 0:4].all() and m0[S, S].all() and not m0[S, A].any()
    # noisy actions: everything earlier and themselves both ways
    assert m0[A, 0:4].all() and m0[A, S].all() and m0[A, A].all()
    # sample 1 has no padding: the whole world block is open
    assert m[1, 0, W, W].all()


def test_cmca_is_a_layout_of_the_task_mask():
    valid = torch.tensor([[1, 1, 1, 0]])
    causal = build_task_mask(valid, (2, 3))
    cmca = build_cmca_mask(valid, 2, 3)
    # only the world block's upper triangle (real tokens) differs from the causal UE layout
    diff = (causal != cmca)[0, 0]
    expected = torch.zeros_like(diff)
    expected[0:3, 0:3] = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)
    assert torch.equal(diff, expected)
    # planning rows identical to the AutoMoT-style group layout
    assert torch.equal(causal[..., 4:, :], cmca[..., 4:, :])


def test_cmca_world_outputs_do_not_depend_on_planning_tokens():
    torch.manual_seed(0)
    valid = torch.ones(1, 4, dtype=torch.bool)
    mask = build_cmca_mask(valid, 1, 2)
    q = torch.randn(1, 2, 7, 8)
    k, v = torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 4:] += 5
    v2[:, :, 4:] -= 3
    out2 = torch.nn.functional.scaled_dot_product_attention(q, k2, v2, attn_mask=mask)
    torch.testing.assert_close(out[:, :, :4], out2[:, :, :4])
    # the ego-state token does not see the noisy actions either
