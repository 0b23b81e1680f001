# Copyright (c) mmautomot contributors. All rights reserved.
import math

import pytest
import torch

from mmautomot.models.losses import SoftmaxFocalLoss, inverse_frequency_alpha


def test_focal_loss_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])  # p = (0.25, 0.75), (0.5, 0.5)
    target = torch.tensor([1, 0])
    # sample 0: (1 - 0.75)^2 * -log 0.75 ; sample 1: (0.5)^2 * -log 0.5
    l0 = 0.0625 * -math.log(0.75)
    l1 = 0.25 * -math.log(0.5)
    assert SoftmaxFocalLoss(gamma=2.0)(logits, target).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # inverse-frequency alpha from counts 1 and 3: (1, 1/3) / (4/3) = (0.75, 0.25)
    alpha = inverse_frequency_alpha([1, 3])
    assert torch.allclose(alpha, torch.tensor([0.75, 0.25]))
    loss = SoftmaxFocalLoss(gamma=2.0, class_counts=[1, 3])(logits, target)
    assert loss.item() == pytest.approx((0.25 * l0 + 0.75 * l1) / 2, rel=1e-6)
    # gamma 0 and no alpha is cross entropy; ignore_index drops a sample
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert SoftmaxFocalLoss(gamma=0.0)(logits, target).item() == pytest.approx(ce.item(), rel=1e-6)
    assert SoftmaxFocalLoss()(logits, torch.tensor([1, -1])).item() == pytest.approx(l0, rel=1e-6)


def test_focal_loss_errors():
    with pytest.raises(ValueError, match='alpha or class_counts'):
        SoftmaxFocalLoss(alpha=[1, 1], class_counts=[1, 1])
    with pytest.raises(ValueError, match='counts must be > 0'):
        inverse_frequency_alpha([0, 1])
    with pytest.raises(ValueError, match=r'targets must be in \[0, 2\)'):
        SoftmaxFocalLoss()(torch.zeros(1, 2), torch.tensor([5]))
