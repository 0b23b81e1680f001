# Copyright (c) mmautomot contributors. All rights reserved.
"""The BEV-encoder variants of the AutoMoT configs: one ``bev_encoder`` line, the rest unchanged."""

import pytest
import torch
from mmengine.config import Config

from mmautomot.registry import MODELS

CFG_DIR = 'projects/automot/configs/'


def _build_meta(name):
    import projects.automot.automot  # noqa: F401

    cfg = Config.fromfile(CFG_DIR + name)
    model_cfg = cfg.model.to_dict()
    model_cfg['mot']['ue']['pretrained'] = None
    with torch.device('meta'):
        return cfg, MODELS.build(model_cfg)


def _loaders(cfg, split='train_dataloader'):
    return [t['type'] for t in cfg[split].dataset.pipeline]


@pytest.mark.parametrize(
    'variant, encoder', [('pointpillars', 'PointPillarsBEVEncoder'), ('camera-only', 'CameraQueryBEVEncoder')]
)
def test_paper_scale_variants_on_meta_device(variant, encoder):
    cfg, model = _build_meta(f'automot_qwen3vl-4b-{variant}_8xb1-12e_nuscenes-e2e.py')
    base = Config.fromfile(CFG_DIR + 'automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py')
    assert type(model.bev_encoder).__name__ == encoder
    # only the BEV encoder differs: same experts, same AE token layout
    for key in ('mot', 'tokens', 'meta_action_head', 'path_head', 'traj_head'):
        assert cfg.model[key] == base.model[key], key
    counts = model.count_params()
    assert abs(counts['ue_params'] - 4.44e9) / 4.44e9 < 0.02 and 1.5e9 <= counts['ae_params'] <= 1.7e9
    assert model.tokens.group_sizes == (64, 2 + 1, 8, 20, 6)  # the released token blocks of the base config
    has_lidar = 'LoadPointsInEgoFrame' in _loaders(cfg)
    assert has_lidar == (variant != 'camera-only')
    assert _loaders(cfg, 'test_dataloader') == _loaders(cfg)
    if variant == 'pointpillars':
        enc = model.bev_encoder
        assert (enc.nx, enc.ny) == (400, 400) and enc.neck_channels == 384
        assert enc.pretrained == dict(checkpoint=None, prefix='auto')
        # ego (5, 0, 0) -> LIDAR_TOP (0, 4.06, -1.84): x right, y forward, 0.94 m ahead, 1.84 m up
        ego2sensor = torch.tensor(cfg.model.bev_encoder.ego2sensor, dtype=torch.float64)
        torch.testing.assert_close(
            ego2sensor @ torch.tensor([5.0, 0, 0, 1], dtype=torch.float64),
            torch.tensor([0.0, 4.056287, -1.84023, 1], dtype=torch.float64),
        )
        torch.testing.assert_close(
            ego2sensor @ torch.tensor([0.0, -3.0, 0, 1], dtype=torch.float64),
            torch.tensor([3.0, -0.943713, -1.84023, 1], dtype=torch.float64),
        )


@pytest.mark.parametrize(
    'name',
    ['automot_tiny-pointpillars_1xb2-200i_nuscenes-e2e.py', 'automot_tiny-camera-only_1xb2-200i_nuscenes-e2e.py'],
)
def test_tiny_variants_change_only_the_bev_encoder(name):
    cfg = Config.fromfile(CFG_DIR + name)
    base = Config.fromfile(CFG_DIR + 'automot_tiny_1xb2-200i_nuscenes-e2e.py')
    assert {k for k in cfg.model if cfg.model[k] != base.model[k]} == {'bev_encoder'}


def test_pointpillars_config_matches_mmdet3d_nuscenes_model_zoo_layout(tmp_path):
    """The 4B pointpillars config takes the weights of mmdet3d's own nuScenes PointPillars
    (``pointpillars_hv_secfpn_sbn-all_8xb4-2x_nus-3d``, MVXFasterRCNN), built here from mmdet3d's shipped
    config with random weights: key for key, shape for shape."""
    import os.path as osp

    import mmdet3d

    from mmautomot.models.encoders.pillar_bev_encoder import build_mmdet3d_module

    zoo = osp.join(
        osp.dirname(mmdet3d.__file__),
        '.mim',
        'configs',
        'pointpillars',
        'pointpillars_hv_secfpn_sbn-all_8xb4-2x_nus-3d.py',
    )
    if not osp.isfile(zoo):
        pytest.skip(f'mmdet3d ships no {zoo}')
    torch.manual_seed(0)
    det = build_mmdet3d_module(Config.fromfile(zoo).model)
    ckpt = str(tmp_path / 'pointpillars_nus.pth')
    torch.save(dict(state_dict=det.state_dict()), ckpt)
    enc_cfg = Config.fromfile(CFG_DIR + 'automot_qwen3vl-4b-pointpillars_8xb1-12e_nuscenes-e2e.py').model.bev_encoder
    enc = MODELS.build(dict(enc_cfg.to_dict(), pretrained=dict(checkpoint=ckpt, prefix='auto')))
    enc.init_weights()
    theirs = det.state_dict()
    ours = {k: v for k, v in enc.state_dict().items() if k.split('.')[0] in ('voxel_encoder', 'backbone', 'neck')}
    assert (
        len(ours)
        == len([k for k in theirs if k.split('.')[0] in ('pts_voxel_encoder', 'pts_backbone', 'pts_neck')])
        > 50
    )
    assert all(torch.equal(v, theirs['pts_' + k]) for k, v in ours.items())
