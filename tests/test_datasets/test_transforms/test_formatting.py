# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import torch
from mmengine.dataset import pseudo_collate

from mmautomot.datasets.transforms import (
    BuildPlanningTargets,
    LoadFrontCamHistory,
    LoadMultiViewImages,
    LoadPointsInEgoFrame,
    PackDrivingInputs,
)
from mmautomot.structures import DrivingDataSample


def _full(info):
    for t in (
        LoadFrontCamHistory(num_frames=4, img_size=(16, 8)),
        LoadMultiViewImages(img_size=(24, 12)),
        LoadPointsInEgoFrame(sweeps_num=1),
        BuildPlanningTargets(),
        PackDrivingInputs(),
    ):
        info = t(info)
    return info


def test_pack_all_inputs(tiny_e2e_infos):
    out = _full(tiny_e2e_infos[1])
    inputs, sample = out['inputs'], out['data_samples']
    assert set(inputs) == {'img_hist', 'imgs', 'points', 'ego_status', 'ego_hist_trajs', 'target_point', 'command'}
    assert inputs['img_hist'].shape == (4, 3, 8, 16) and inputs['img_hist'].dtype == torch.uint8
    assert inputs['imgs'].shape == (2, 3, 12, 24) and inputs['imgs'].dtype == torch.uint8
    # CHW layout: channel 0 is red = the file's BGR third value (30)
    assert abs(float(inputs['imgs'][0, 0].float().mean()) - 30) < 3
    assert inputs['points'].shape == (4, 5) and inputs['points'].dtype == torch.float32
    assert inputs['ego_status'].shape == (4,) and inputs['target_point'].shape == (2,)
    assert inputs['command'].shape == () and inputs['command'].dtype == torch.int64
    assert isinstance(sample, DrivingDataSample)
    assert sample.token == 'tok1' and sample.scene_token == 'scene0'
    assert sample.cam_names == ['CAM_FRONT', 'CAM_BACK'] and sample.img_shape == (12, 24)
    assert sample.cam2ego.shape == (2, 4, 4) and sample.cam_intrinsics.shape == (2, 3, 3)
    np.testing.assert_allclose(sample.cam_intrinsics[0, 0, 0], 32 * 24 / 64)
    assert sample.lidar2ego.shape == (4, 4) and sample.command == 2
    assert sample.plan_dt == 0.5 and sample.path_spacing == 1.0 and sample.dataset == 'nuscenes'
    assert 'go straight' in sample.prompt
    for key, shape in [
        ('gt_ego_fut_trajs', (6, 2)),
        ('gt_ego_fut_masks', (6,)),
        ('gt_ego_path', (20, 2)),
        ('gt_meta_actions', (3, 2)),
        ('gt_agent_boxes', (0, 7)),
        ('gt_agent_fut_trajs', (0, 6, 2)),
    ]:
        assert isinstance(sample.get(key), torch.Tensor) and tuple(sample.get(key).shape) == shape
    assert sample.gt_meta_actions.dtype == torch.int64


def test_ego_only_pipeline_omits_absent_keys(tiny_e2e_infos):
    out = PackDrivingInputs()(BuildPlanningTargets(with_prompt=False)(tiny_e2e_infos[0]))
    assert set(out['inputs']) == {'ego_status', 'ego_hist_trajs', 'target_point', 'command'}
    meta = out['data_samples'].metainfo
    assert 'cam_names' not in meta and 'prompt' not in meta and meta['token'] == 'tok0'
    batch = pseudo_collate([out, PackDrivingInputs()(BuildPlanningTargets()(tiny_e2e_infos[1]))])
    assert len(batch['inputs']['ego_status']) == 2 and len(batch['data_samples']) == 2
