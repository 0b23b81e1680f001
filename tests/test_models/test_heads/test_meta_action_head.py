# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmautomot.registry import MODELS
from mmautomot.structures import LATERAL_CLASSES, LONGITUDINAL_CLASSES

N_LAT, N_LON = len(LATERAL_CLASSES), len(LONGITUDINAL_CLASSES)


def _head(**kw):
    return MODELS.build(dict(type='MetaActionHead', in_channels=16, **kw))


def test_forward_shape_and_grad():
    head = _head(pool_heads=2)
    tokens = torch.randn(2, 8, 16, requires_grad=True)
    logits = head(tokens)
    assert logits.shape == (2, 3, N_LAT + N_LON)
    logits.sum().backward()
    assert tokens.grad.abs().sum() > 0


def test_predict_on_constructed_logits():
    head = _head()
    logits = torch.full((1, 3, N_LAT + N_LON), -5.0)
    wanted = [[3, 2], [0, 0], [4, 3]]
    for k, (lat, lon) in enumerate(wanted):
        logits[0, k, lat] = 5.0
        logits[0, k, N_LAT + lon] = 5.0
    assert head.predict(logits).tolist() == [wanted]
    assert head.predict(logits).dtype == torch.long


def test_loss_values_ignore_and_weights():
    head = _head(
        loss_lat=dict(type='mmdet.CrossEntropyLoss', avg_non_ignore=True, loss_weight=2.0),
        loss_lon=dict(type='mmdet.CrossEntropyLoss', avg_non_ignore=True, loss_weight=0.5),
    )
    torch.manual_seed(0)
    logits = torch.randn(2, 3, N_LAT + N_LON)
    gt = torch.tensor([[[1, 2], [-1, -1], [4, 0]], [[0, 3], [2, 1], [-1, -1]]])
    losses = head.loss(logits, gt)
    lat = logits[..., :N_LAT].reshape(-1, N_LAT)
    lon = logits[..., N_LAT:].reshape(-1, N_LON)
    exp_lat = 2.0 * F.cross_entropy(lat, gt[..., 0].reshape(-1), ignore_index=-1)
    exp_lon = 0.5 * F.cross_entropy(lon, gt[..., 1].reshape(-1), ignore_index=-1)
    assert set(losses) == {'loss_meta_lat', 'loss_meta_lon'}
    assert losses['loss_meta_lat'].item() == pytest.approx(exp_lat.item(), rel=1e-5)
    assert losses['loss_meta_lon'].item() == pytest.approx(exp_lon.item(), rel=1e-5)
    # perfect logits give ~0 loss
    perfect = torch.full_like(logits, -20.0)
    for b in range(2):
        for k in range(3):
            if gt[b, k, 0] >= 0:
                perfect[b, k, gt[b, k, 0]] = 20.0
                perfect[b, k, N_LAT + gt[b, k, 1]] = 20.0
    assert head.loss(perfect, gt)['loss_meta_lat'].item() < 1e-6
    all_ignored = head.loss(logits, torch.full_like(gt, -1))
    assert all_ignored['loss_meta_lat'].item() == 0.0


def test_loss_errors():
    head = _head()
    logits = torch.zeros(1, 3, N_LAT + N_LON)
    with pytest.raises(ValueError, match='lateral labels'):
        head.loss(logits, torch.tensor([[[5, 0], [0, 0], [0, 0]]]))
    with pytest.raises(ValueError, match='gt must be'):
        head.loss(logits, torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match='tokens must be'):
        head(torch.zeros(1, 8, 15))
