# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.heads import TrajectoryHead
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


@pytest.mark.parametrize(
    'loss_type,expected',
    [('l1', (1.0 + 3.0 + 0.5 + 0.5) / 4 * 3.0), ('smooth_l1', (0.5 + 2.5 + 0.125 + 0.125) / 4 * 3.0)],
)
def test_masked_loss_values(loss_type, expected):
    head = MODELS.build(dict(type='TrajectoryHead', in_channels=8, loss_type=loss_type, loss_weight=3.0))
    pred = torch.zeros(1, 3, 2)
    gt = torch.tensor([[[1.0, -3.0], [0.5, 0.5], [50.0, 50.0]]])
    mask = torch.tensor([[True, True, False]])
    losses = head.loss(pred, gt, mask, prefix='traj')
    assert list(losses) == ['loss_traj']
    assert losses['loss_traj'].item() == pytest.approx(expected)
    assert list(head.loss(pred, gt)) == ['loss_path']


def test_kinematic_priors():
    tokens = torch.randn(3, 6, 16)
    speed = torch.tensor([0.0, 4.0, 10.0])
    plain = TrajectoryHead(in_channels=16, num_points=6)
    cv = TrajectoryHead(in_channels=16, num_points=6, prior='constant_velocity', prior_step=0.5)
    cv.load_state_dict(plain.state_dict())
    residual = cv(tokens, speed) - plain(tokens)
    # point i (0-based) sits v * 0.5 * (i + 1) ahead; nothing lateral
    assert torch.allclose(residual[1, :, 0], 4.0 * 0.5 * torch.arange(1, 7, dtype=torch.float32))
    assert torch.allclose(residual[2, -1], torch.tensor([30.0, 0.0]))
    assert torch.count_nonzero(residual[0]) == 0 and torch.count_nonzero(residual[..., 1]) == 0
    with pytest.raises(ValueError, match='needs the ego speed'):
        cv(tokens)
    straight = TrajectoryHead(in_channels=16, prior='straight', prior_step=1.0)
    straight.load_state_dict(plain.state_dict())
    offsets = straight(tokens) - plain(tokens)
    assert torch.allclose(offsets[:, :, 0], torch.arange(1, 7, dtype=torch.float32).expand(3, -1))
    with pytest.raises(ValueError, match='prior must be'):
        TrajectoryHead(in_channels=16, prior='spline')
