# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.registry import MODELS


def _router():
    torch.manual_seed(0)
    return MODELS.build(dict(type='CameraRouter', embed_dims=32, num_views=5, num_heads=8))


def test_router_shapes_and_choices():
    router = _router().eval()
    front, goal = torch.randn(3, 7, 32), torch.randn(3, 2) * 20
    logits = router(front, goal)
    assert logits.shape == (3, 5)
    w, idx = router.select(logits)
    assert torch.equal(idx, logits.argmax(-1)) and torch.equal(w, torch.nn.functional.one_hot(idx, 5).float())
    # the goal token matters: a different goal changes the logits
    assert not torch.allclose(router(front, goal + 50.0), logits)
    with pytest.raises(ValueError, match=r'goal must be \(B, 2\)'):
        router(front, torch.zeros(3, 3))


def test_training_selection_is_a_straight_through_hard_gumbel():
    router = _router().train()
    logits = torch.tensor([[5.0, 0.0, 0.0, 0.0, 0.0]] * 64, requires_grad=True)
    torch.manual_seed(0)
    w, idx = router.select(logits)
    assert ((w == 0) | (w == 1)).all() and torch.equal(w.sum(-1), torch.ones(64))
    assert torch.equal(w.argmax(-1), idx)
    # stochastic: mostly the dominant view, but not always
    assert 40 < int((idx == 0).sum()) < 64
    (w * torch.arange(5.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
