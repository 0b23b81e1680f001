# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.moe import (
    MoEFFN,
    TokenRouter,
    TrajectoryRouter,
    load_balancing_loss,
    moe_aux_losses,
    share_routing,
    top_k_routing,
)
from mmautomot.models.mot import ActionExpertLayer, MoTTransformer  # noqa: F401
from mmautomot.registry import MODELS


def _ffn(router='TrajectoryRouter', **kw):
    torch.manual_seed(0)
    return MoEFFN(16, 24, num_experts=5, num_shared_experts=1, top_k=2, router=dict(type=router, **kw))


def test_top_k_after_softmax_is_renormalised():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0]])
    w, idx = top_k_routing(logits, 2)
    p = logits.softmax(-1)[0]
    assert idx.tolist() == [[0, 2]]
    assert torch.allclose(w[0], torch.stack([p[0], p[2]]) / (p[0] + p[2]))
    assert torch.allclose(w.sum(-1), torch.ones(1))


def test_moe_output_is_weighted_sum_of_selected_experts():
    ffn = _ffn('TokenRouter')
    x = torch.randn(2, 3, 16)
    out = ffn(x)
    st = ffn.routing
    for b in range(2):
        for t in range(3):
            ref = ffn.shared_experts[0](x[b, t])
            for slot in range(2):
                e = int(st.indices[b, t, slot])
                ref = ref + st.weights[b, t, slot] * ffn.experts[e](x[b, t])
            assert torch.allclose(out[b, t], ref, atol=1e-6)
    # the unselected experts do not matter: perturbing one never chosen leaves the output unchanged
    unused = set(range(5)) - set(st.indices.flatten().tolist())
    if unused:
        with torch.no_grad():
            ffn.experts[unused.pop()].down_proj.weight.add_(1.0)
        assert torch.allclose(ffn(x), out, atol=1e-6)


def test_trajectory_routing_is_per_sample_token_routing_per_token():
    x = torch.randn(2, 6, 16)
    traj = _ffn('TrajectoryRouter', num_pool_tokens=4)
    traj(x)
    idx = traj.routing.indices
    assert (idx == idx[:, :1]).all() and torch.equal(
        traj.routing.weights, traj.routing.weights[:, :1].expand_as(traj.routing.weights)
    )
    # averaged logits over the last 4 (action) tokens, divided by the learned temperature
    router = traj.router
    with torch.no_grad():
        router.temperature.fill_(2.0)
    traj(x)
    ref = router.linear(x[:, -4:]).mean(1) / 2.0
    assert torch.allclose(traj.routing.logits[:, 0], ref, atol=1e-6)
    tok = _ffn('TokenRouter')
    tok(x)
    assert not (tok.routing.indices == tok.routing.indices[:, :1]).all()


def test_shared_routing_and_aux_loss():
    torch.manual_seed(1)
    first = MoEFFN(16, 24, num_experts=4, top_k=2, aux_loss=True)
    second = MoEFFN(16, 24, num_experts=4, top_k=2, route=False)
    assert second.router is None
    with pytest.raises(RuntimeError, match='no routing yet'):
        second(torch.randn(1, 3, 16))
    share_routing([first, second])
    x = torch.randn(2, 3, 16)
    first(x)
    routed = first.routing.indices.clone()
    second(torch.randn(2, 3, 16))  # reuses the first FFN's routing
    assert second.routing is first.routing and torch.equal(second.routing.indices, routed)
    with pytest.raises(ValueError, match='only the first'):
        share_routing([first, MoEFFN(16, 24, num_experts=4, top_k=2)])
    losses = moe_aux_losses(torch.nn.ModuleList([first, second]))
    assert len(losses) == 1 and losses[0] > 0
    # perfectly balanced routing gives 1
    logits = torch.zeros(4, 4)
    idx = torch.arange(4)[:, None]
    assert load_balancing_loss(logits, idx, 4).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match='top_k'):
        MoEFFN(16, 24, num_experts=2, top_k=3)


def test_action_expert_layer_takes_a_pluggable_ffn():
    layer = MODELS.build(
        dict(
            type='ActionExpertLayer',
            hidden_size=16,
            intermediate_size=24,
            num_heads=2,
            num_kv_heads=1,
            head_dim=8,
            mlp=dict(type='MoEFFN', num_experts=3, top_k=1, router=dict(type='TokenRouter')),
        )
    )
    assert isinstance(layer.mlp, MoEFFN) and isinstance(layer.mlp.router, TokenRouter)
    assert layer.mlp.experts[0].up_proj.out_features == 24
    dense = ActionExpertLayer(16, 24, num_heads=2, num_kv_heads=1, head_dim=8)
    assert not isinstance(dense.mlp, MoEFFN)
    assert isinstance(_ffn().router, TrajectoryRouter)
