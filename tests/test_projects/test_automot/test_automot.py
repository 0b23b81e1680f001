# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.testing import demo_driving_batch as make_batch


def test_overfit_one_batch(tiny_model):
    """The tiny model overfits one small batch: the total loss falls by >= 90%."""
    torch.manual_seed(0)
    model = tiny_model.train()
    inputs, samples = make_batch()
    params = [p for p in model.parameters() if p.requires_grad]
    assert not any(p.requires_grad for p in model.mot.ue.parameters())  # UE frozen by default
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(80):
        losses = model(inputs, samples, mode='loss')
        total = sum(losses.values())
        first = total.item() if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert set(losses) == {'loss_meta_lat', 'loss_meta_lon', 'loss_path', 'loss_traj'}
    assert total.item() <= 0.1 * first, (first, total.item())


def test_predict_and_async_ticks_match_joint(tiny_model):
    model = tiny_model.eval()
    inputs, samples = make_batch(seed=1)
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
        cache = model.ue_tick(inputs, data_samples=samples)
        tick = model.ae_tick(inputs, cache)
    ds = out[0]
    assert ds.pred_ego_fut_trajs.shape == (6, 2) and ds.pred_ego_path.shape == (20, 2)
    assert ds.pred_meta_actions.shape == (3, 2) and ds.pred_meta_actions.dtype == torch.long
    assert ds.pred_meta_action_logits.shape == (3, 9)
    torch.testing.assert_close(
        tick['waypoints'], torch.stack([d.pred_ego_fut_trajs for d in out]), atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(tick['path'], torch.stack([d.pred_ego_path for d in out]), atol=1e-5, rtol=1e-5)
    assert torch.equal(tick['meta_actions'], torch.stack([d.pred_meta_actions for d in out]))


def test_count_params_and_errors(tiny_model):
    counts = tiny_model.count_params()
    assert counts['total_params'] == sum(p.numel() for p in tiny_model.parameters())
    assert counts['ue_params'] + counts['ae_params'] + counts['other_params'] == counts['total_params']
    assert counts['ae_params'] == sum(p.numel() for p in tiny_model.mot.ae_layers.parameters()) + 48
    inputs, samples = make_batch()
    inputs.pop('points')
    with pytest.raises(KeyError, match=r"inputs lack \['points'\]"):
        tiny_model(inputs, samples, mode='loss')
    with pytest.raises(ValueError, match='mode must be'):
        tiny_model(inputs, samples, mode='bogus')
