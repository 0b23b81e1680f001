# Copyright (c) mmautomot contributors. All rights reserved.
import math

import pytest
import torch

from mmautomot.registry import MODELS
from mmautomot.structures import DrivingDataSample


def _batch(speeds=(10.0, 4.0), commands=(2, 0), valid=(6, 3)):
    """Straight-line histories at constant speed along +x, as pipeline outputs (per-sample)."""
    data = []
    for v, cmd, n in zip(speeds, commands, valid):
        t_hist = torch.arange(-4, 0, dtype=torch.float32) * 0.5  # -2.0 ... -0.5 s, oldest first
        t_fut = torch.arange(1, 7, dtype=torch.float32) * 0.5
        sample = DrivingDataSample(metainfo=dict(token=f'tok{v}'))
        sample.gt_ego_fut_trajs = torch.stack([v * t_fut, torch.zeros(6)], -1)
        sample.gt_ego_fut_masks = (torch.arange(6) < n).float()
        data.append(
            dict(
                inputs=dict(
                    ego_status=torch.tensor([v, 0.0, 0.0, 0.0]),
                    ego_hist_trajs=torch.stack([v * t_hist, torch.zeros(4)], -1),
                    target_point=torch.tensor([v * 3.0, 0.0]),
                    command=torch.tensor(cmd),
                ),
                data_samples=sample,
            )
        )
    return data


@pytest.mark.parametrize('source', ['status', 'history'])
def test_constant_velocity_exact(source):
    model = MODELS.build(dict(type='ConstantVelocityPlanner', velocity_source=source))
    data = model.data_preprocessor(_batch())
    trajs = model(**data, mode='tensor')
    assert trajs.shape == (2, 6, 2)
    expected_x = torch.tensor([[5.0, 10, 15, 20, 25, 30], [2.0, 4, 6, 8, 10, 12]])
    torch.testing.assert_close(trajs[..., 0], expected_x)
    torch.testing.assert_close(trajs[..., 1], torch.zeros(2, 6))
    samples = model(**data, mode='predict')
    torch.testing.assert_close(samples[1].pred_ego_fut_trajs[:, 0], expected_x[1])
    assert samples[0].token == 'tok10.0'
    losses = model(**data, mode='loss')
    assert losses['loss_plan'].item() == pytest.approx(0.0, abs=1e-6)  # exact on straight lines
    # history velocity: lateral drift is extrapolated too
    hist = dict(
        ego_hist_trajs=torch.tensor([[[-4.0, -2.0], [-3.0, -1.5], [-2.0, -1.0], [-1.0, -0.5]]]),
        ego_status=torch.tensor([[2.0, 0, 0, 0]]),
    )
    if source == 'history':
        out = model(hist, mode='tensor')
        torch.testing.assert_close(out[0, :2], torch.tensor([[1.0, 0.5], [2.0, 1.0]]))


def test_constant_velocity_yaw_rate_arc():
    model = MODELS.build(dict(type='ConstantVelocityPlanner', use_yaw_rate=True))
    w = math.pi / 6  # quarter circle after 3 s
    out = model(dict(ego_status=torch.tensor([[5.0, 0, 0, w], [5.0, 0, 0, 0]])), mode='tensor')
    r = 5.0 / w
    torch.testing.assert_close(out[0, -1], torch.tensor([r, r]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[1, :, 0], torch.arange(1, 7) * 2.5)
    for t in range(6):  # every point on the circle of radius r centred at (0, r)
        assert float(torch.hypot(out[0, t, 0], out[0, t, 1] - r)) == pytest.approx(r, rel=1e-5)


def test_constant_velocity_errors():
    with pytest.raises(ValueError, match='velocity_source'):
        MODELS.build(dict(type='ConstantVelocityPlanner', velocity_source='gps'))
    model = MODELS.build(dict(type='ConstantVelocityPlanner'))
    with pytest.raises(KeyError, match=r"inputs\['ego_status'\]"):
        model(dict(command=torch.tensor([1])), mode='tensor')
    with pytest.raises(ValueError, match='mode'):
        model(dict(ego_status=torch.zeros(1, 4)), mode='train')


def test_ego_mlp_loss_decreases_and_predict():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='EgoMLPPlanner', hidden_dims=(32, 32)))
    data = model.data_preprocessor(_batch(speeds=(10.0, 4.0, 7.0), commands=(2, 0, 1), valid=(6, 3, 0)))
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = model(**data, mode='loss')['loss_plan']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[0] > 1.0 and max(losses[-5:]) < 0.15 * losses[0]
    samples = model(**data, mode='predict')
    assert samples[0].pred_ego_fut_trajs.shape == (6, 2)
    assert not samples[0].pred_ego_fut_trajs.requires_grad
    err = (samples[0].pred_ego_fut_trajs - samples[0].gt_ego_fut_trajs).abs().mean().item()
    assert err < 0.15 * losses[0]  # the fitted sample is close to its GT


def test_ego_mlp_inputs_and_masks():
    model = MODELS.build(dict(type='EgoMLPPlanner', hidden_dims=(8,), use_hist=False, num_commands=3))
    assert model.mlp[0].in_features == 4 + 3
    data = model.data_preprocessor(_batch())
    assert model(**data, mode='tensor').shape == (2, 6, 2)
    with pytest.raises(ValueError, match=r'command ids \[5\]'):
        model(dict(ego_status=torch.zeros(1, 4), command=torch.tensor([5])), mode='tensor')
    hist_model = MODELS.build(dict(type='EgoMLPPlanner', hidden_dims=(8,), hist_steps=3))
    with pytest.raises(ValueError, match=r'ego_hist_trajs is \(2, 4, 2\)'):
        hist_model(**data, mode='tensor')
    with pytest.raises(ValueError, match='at least one'):
        MODELS.build(dict(type='EgoMLPPlanner', use_hist=False, use_status=False, use_command=False))
    # masked steps do not contribute: changing GT beyond the mask leaves the loss unchanged
    loss_a = model(**data, mode='loss')['loss_plan'].item()
    data['data_samples'][1].gt_ego_fut_trajs[3:] += 100.0
    assert model(**data, mode='loss')['loss_plan'].item() == pytest.approx(loss_a)


def test_constant_velocity_loss_backward_is_a_noop():
    model = MODELS.build(dict(type='ConstantVelocityPlanner'))
    data = model.data_preprocessor(_batch(speeds=(10.0,), commands=(2,), valid=(6,)))
    data['data_samples'][0].gt_ego_fut_trajs[:, 1] += 1.0  # 1 m lateral error everywhere
    loss = model(**data, mode='loss')['loss_plan']
    assert loss.item() == pytest.approx(0.5)  # mean over x (0) and y (1) elements
    loss.backward()
    assert model.dummy.grad.item() == 0.0
    assert not model(**data, mode='tensor').requires_grad
