# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.moe import SceneContext, SceneMoEFFN, link_scene_context


def _ffn(**kw):
    torch.manual_seed(0)
    ffn = SceneMoEFFN(8, 12, num_experts=3, scene_dims=5, **kw)
    with torch.no_grad():  # larger weights than the 0.02 init so that experts differ visibly
        for p in (ffn.gate, ffn.up, ffn.down):
            p.normal_(0, 0.5)
    ctx = link_scene_context(ffn)
    ctx.set(torch.randn(2, 5))
    return ffn, ctx


def test_soft_moe_equals_weighted_sum_of_experts():
    ffn, ctx = _ffn(mode='mix')
    x = torch.randn(2, 4, 8)
    out = ffn(x)
    w = torch.softmax(ffn.router(ctx.scene), dim=-1)
    assert torch.allclose(w.sum(-1), torch.ones(2))
    expected = sum(w[:, e, None, None] * ffn.expert(e, x) for e in range(3))
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ffn.last_weights, w)
    # expert e is a plain SwiGLU with its own weights
    e1 = torch.nn.functional.silu(x @ ffn.gate[1].T) * (x @ ffn.up[1].T) @ ffn.down[1].T
    torch.testing.assert_close(ffn.expert(1, x), e1)


def test_weight_merging_equals_output_mixing():
    mix, ctx = _ffn(mode='mix')
    merge = SceneMoEFFN(8, 12, num_experts=3, scene_dims=5, mode='merge')
    merge.load_state_dict(mix.state_dict())
    merge.context = ctx
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(merge(x), mix(x), atol=1e-5, rtol=1e-5)
    # gradients agree too
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    mix(x1).square().sum().backward()
    merge(x2).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merge.down.grad, mix.down.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merge.router.weight.grad, mix.router.weight.grad, atol=1e-5, rtol=1e-5)


def test_merged_weights_kept_until_scene_changes():
    ffn, ctx = _ffn(mode='merge')
    x = torch.randn(2, 4, 8)
    with torch.no_grad():
        ffn(x)
        first = ffn._merged[1][2]
        ffn(x + 1)
        assert ffn._merged[1][2] is first  # same scene: merged weights reused (e.g. over flow steps)
        ctx.set(torch.randn(2, 5))
        ffn(x)
        assert ffn._merged[1][2] is not first


def test_parameter_average_is_the_dense_ffn_of_averaged_weights():
    ffn, ctx = _ffn(mode='average')
    x = torch.randn(2, 4, 8)
    out = ffn(x)
    w = ffn.last_weights
    for b in range(2):
        g = sum(w[b, e] * ffn.gate[e] for e in range(3))
        u = sum(w[b, e] * ffn.up[e] for e in range(3))
        d = sum(w[b, e] * ffn.down[e] for e in range(3))
        torch.testing.assert_close(out[b], (torch.nn.functional.silu(x[b] @ g.T) * (x[b] @ u.T)) @ d.T)
    mix = SceneMoEFFN(8, 12, num_experts=3, scene_dims=5, mode='mix')
    mix.load_state_dict(ffn.state_dict())
    mix.context = ctx
    assert not torch.allclose(mix(x), out, atol=1e-4)  # a different function: a documented alternative


def test_scene_routing_ignores_tokens_and_follows_the_scene():
    ffn, ctx = _ffn()
    ffn(torch.randn(2, 4, 8))
    w1 = ffn.last_weights
    ffn(torch.randn(2, 6, 8) * 3)
    torch.testing.assert_close(ffn.last_weights, w1)  # other tokens, same scene: same weights
    ctx.set(torch.randn(2, 5))
    ffn(torch.randn(2, 4, 8))
    assert not torch.allclose(ffn.last_weights, w1)


def test_token_routing_top_k_per_token():
    torch.manual_seed(0)
    ffn = SceneMoEFFN(8, 12, num_experts=4, routing='token', top_k=2)
    x = torch.randn(2, 5, 8)
    out = ffn(x)
    w = ffn.last_weights
    assert w.shape == (2, 5, 4)
    assert ((w > 0).sum(-1) == 2).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 5))
    assert not torch.allclose(w[:, 0], w[:, 1])  # per token
    torch.testing.assert_close(out, sum(w[..., e, None] * ffn.expert(e, x) for e in range(4)))


def test_errors():
    with pytest.raises(ValueError, match='scene_dims'):
        SceneMoEFFN(8, 12)
    with pytest.raises(ValueError, match='mode'):
        SceneMoEFFN(8, 12, scene_dims=4, mode='sparse')
    with pytest.raises(ValueError, match='routing'):
        SceneMoEFFN(8, 12, scene_dims=4, routing='trajectory')
    ffn = SceneMoEFFN(8, 12, scene_dims=4)
    with pytest.raises(RuntimeError, match='SceneContext.set'):
        ffn(torch.randn(1, 2, 8))
    ffn.context.set(torch.randn(3, 4))
    with pytest.raises(ValueError, match='3 samples'):
        ffn(torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match=r'\(B, D_s\)'):
        SceneContext().set(torch.randn(4))


@pytest.mark.parametrize('mode', ['merge', 'average'])
def test_batch_one_path_equals_batched_path(mode):
    ffn, ctx = _ffn(mode=mode)
    x = torch.randn(2, 4, 8)
    both = ffn(x)
    scene = ctx.scene
    for b in range(2):
        ctx.set(scene[b : b + 1])
        torch.testing.assert_close(ffn(x[b : b + 1]), both[b : b + 1], atol=1e-6, rtol=1e-5)
