# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from mmautomot.models.data_preprocessors import stack_planning_gt
from mmautomot.registry import MODELS
from mmautomot.structures import DrivingDataSample


def _item(seed, n_pts=5, with_imgs=True):
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        img_hist=torch.randint(0, 256, (4, 3, 8, 16), generator=g, dtype=torch.uint8),
        points=torch.randn(n_pts, 4, generator=g),
        ego_status=torch.tensor([5.0 + seed, 0.1, 0.0, 0.01]),
        ego_hist_trajs=torch.randn(4, 2, generator=g),
        target_point=torch.tensor([20.0, float(seed)]),
        command=torch.tensor(seed % 3),
    )
    if with_imgs:
        inputs['imgs'] = torch.randint(0, 256, (2, 3, 8, 16), generator=g, dtype=torch.uint8)
    sample = DrivingDataSample(metainfo=dict(sample_idx=seed))
    sample.gt_ego_fut_trajs = np.arange(12, dtype=np.float32).reshape(6, 2) + seed
    sample.gt_ego_fut_masks = np.ones(6, dtype=np.float32)
    sample.gt_meta_actions = np.array([[2, 2], [1, 3], [-1, -1]])
    return dict(inputs=inputs, data_samples=sample)


def _pre(**kw):
    return MODELS.build(dict(type='DrivingDataPreprocessor', **kw))


@pytest.mark.parametrize('collate', [list, pseudo_collate])
def test_collate_shapes_and_values(collate):
    items = [_item(0, 5), _item(1, 7)]
    raw_imgs = torch.stack([it['inputs']['imgs'] for it in items])
    raw_hist = torch.stack([it['inputs']['img_hist'] for it in items])
    mean, std = (10.0, 20.0, 30.0), (2.0, 4.0, 5.0)
    out = _pre(mean=mean, std=std)(collate(items))
    inp = out['inputs']
    assert inp['imgs'].shape == (2, 2, 3, 8, 16) and inp['imgs'].dtype == torch.float32
    expected = (raw_imgs.float() - torch.tensor(mean).view(1, 1, 3, 1, 1)) / torch.tensor(std).view(1, 1, 3, 1, 1)
    assert torch.allclose(inp['imgs'], expected)
    assert inp['img_hist'].dtype == torch.uint8 and torch.equal(inp['img_hist'], raw_hist)
    assert [p.shape for p in inp['points']] == [(5, 4), (7, 4)]
    assert inp['ego_status'].shape == (2, 4) and inp['ego_status'][1, 0].item() == 6.0
    assert inp['ego_hist_trajs'].shape == (2, 4, 2)
    assert inp['target_point'].tolist() == [[20.0, 0.0], [20.0, 1.0]]
    assert inp['command'].dtype == torch.long and inp['command'].tolist() == [0, 1]
    samples = out['data_samples']
    assert all(isinstance(s, DrivingDataSample) for s in samples)
    assert isinstance(samples[1].gt_ego_fut_trajs, torch.Tensor)
    gt = stack_planning_gt(samples)
    assert gt['gt_ego_fut_trajs'].shape == (2, 6, 2) and gt['gt_ego_fut_trajs'][1, 0, 0].item() == 1.0
    assert gt['gt_meta_actions'].dtype == torch.long and gt['gt_meta_actions'][0, 2].tolist() == [-1, -1]
    assert set(gt) == {'gt_ego_fut_trajs', 'gt_ego_fut_masks', 'gt_meta_actions'}


def test_bgr_to_rgb():
    item = _item(0)
    raw = item['inputs']['imgs'].float()
    out = _pre(mean=(0, 0, 0), std=(1, 1, 1), bgr_to_rgb=True)([item])
    assert torch.equal(out['inputs']['imgs'][0, :, 0], raw[:, 2])
    assert torch.equal(out['inputs']['imgs'][0, :, 2], raw[:, 0])


@pytest.mark.parametrize('collate', [list, pseudo_collate])
def test_missing_optional_keys(collate):
    items = [_item(0, with_imgs=False), _item(1, with_imgs=False)]
    for it in items:
        del it['inputs']['points'], it['inputs']['img_hist']
    inp = _pre()(collate(items))['inputs']
    assert set(inp) == {'ego_status', 'ego_hist_trajs', 'target_point', 'command'}


def test_errors_name_key_and_sample():
    a, b = _item(0), _item(1, with_imgs=False)
    with pytest.raises(KeyError, match='sample 1 has inputs'):
        _pre()([a, b])
    c = _item(1)
    c['inputs']['ego_hist_trajs'] = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"inputs\['ego_hist_trajs'\] has different shapes"):
        _pre()([a, c])
    s = DrivingDataSample()
    with pytest.raises(KeyError, match="'gt_ego_path' is missing in the data samples \\[0\\]"):
        stack_planning_gt([s], keys=['gt_ego_path'])
