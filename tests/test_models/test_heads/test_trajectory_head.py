# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.registry import MODELS


def test_forward_shapes_and_cumulative():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='TrajectoryHead', in_channels=8, num_points=20))
    q = torch.randn(2, 20, 8)
    out = head(q)
    assert out.shape == (2, 20, 2)
    cum = MODELS.build(dict(type='TrajectoryHead', in_channels=8, cumulative=True))
    cum.load_state_dict(head.state_dict())
    assert torch.allclose(cum(q), out.cumsum(1), atol=1e-6)
    with pytest.raises(ValueError, match='expected 20 query tokens'):
        head(torch.randn(1, 6, 8))


@pytest.mark.parametrize('loss_type,expected', [('l1', (1.0 + 3.0 + 0.5 + 0.5) / 4 * 3.0),
                                                ('smooth_l1', (0.5 + 2.5 + 0.125 + 0.125) / 4 * 3.0)])
def test_masked_loss_values(loss_type, expected):
    head = MODELS.build(
        dict(type='TrajectoryHead', in_channels=8, loss_type=loss_type, loss_weight=3.0))
    pred = torch.zeros(1, 3, 2)
    gt = torch.tensor([[[1.0, -3.0], [0.5, 0.5], [50.0, 50.0]]])
    mask = torch.tensor([[True, True, False]])
    losses = head.loss(pred, gt, mask, prefix='traj')
    assert list(losses) == ['loss_traj']
    assert losses['loss_traj'].item() == pytest.approx(expected)
    assert list(head.loss(pred, gt)) == ['loss_path']
