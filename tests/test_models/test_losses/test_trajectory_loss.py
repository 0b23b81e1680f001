# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.registry import MODELS


def test_masked_l1_value():
    loss = MODELS.build(dict(type='MaskedTrajectoryLoss', loss_type='l1', loss_weight=2.0))
    pred = torch.zeros(1, 3, 2)
    gt = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [float('nan'), 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    # valid elements: |1|+|2|+|3|+|4| = 10 over 4 elements -> 2.5, x2 weight
    assert loss(pred, gt, mask).item() == pytest.approx(5.0)


def test_masked_smooth_l1_value_and_grad():
    loss = MODELS.build(dict(type='MaskedTrajectoryLoss', loss_type='smooth_l1', beta=1.0))
    pred = torch.zeros(2, 1, 2, requires_grad=True)
    gt = torch.tensor([[[0.5, 3.0]], [[9.0, 9.0]]])
    mask = torch.tensor([[1.0], [0.0]])
    out = loss(pred, gt, mask)
    # 0.5 * 0.5^2 / 1 = 0.125 ; 3 - 0.5 = 2.5 ; mean over 2 valid elements
    assert out.item() == pytest.approx((0.125 + 2.5) / 2)
    out.backward()
    assert torch.all(pred.grad[1] == 0)


def test_no_valid_points_gives_zero():
    loss = MODELS.build(dict(type='MaskedTrajectoryLoss'))
    pred = torch.randn(2, 4, 2, requires_grad=True)
    out = loss(pred, torch.randn(2, 4, 2), torch.zeros(2, 4))
    assert out.item() == 0.0
    out.backward()


def test_errors():
    with pytest.raises(ValueError, match='loss_type'):
        MODELS.build(dict(type='MaskedTrajectoryLoss', loss_type='l2'))
    loss = MODELS.build(dict(type='MaskedTrajectoryLoss'))
    with pytest.raises(ValueError, match='differ in shape'):
        loss(torch.zeros(1, 3, 2), torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match='mask'):
        loss(torch.zeros(1, 3, 2), torch.zeros(1, 3, 2), torch.ones(1, 4))
