# Copyright (c) mmautomot contributors. All rights reserved.
import json

import pytest
import torch
from mmengine.config import Config
from samoe_test_utils import require_flow_head

from mmautomot.registry import MODELS

CFG_DIR = 'projects/samoe/configs/'


@pytest.mark.parametrize(
    'name,dataset',
    [
        ('samoe_tiny_1xb4-1200i_nuscenes-synthetic.py', 'NuScenesE2EDataset'),
        ('samoe_tiny_token-routing_1xb4-1200i_nuscenes-synthetic.py', 'NuScenesE2EDataset'),
        ('samoe_tiny_1xb4-1200i_bench2drive-synthetic.py', 'Bench2DriveE2EDataset'),
    ],
)
def test_tiny_configs_parse(name, dataset):
    cfg = Config.fromfile(CFG_DIR + name)
    assert cfg.model.type == 'SAMoEVLA' and cfg.custom_imports['imports'] == ['projects.samoe.samoe']
    assert cfg.train_dataloader.dataset.type == dataset
    pack = cfg.train_dataloader.dataset.pipeline[-1]
    assert pack['type'] == 'PackDrivingInputs' and 'instruction' in pack['meta_keys']
    assert 'lidar2ego' in pack['meta_keys']  # the planning metric's LiDAR reference point
    routing = 'token' if 'token' in name else 'scene'
    assert cfg.model.moe['routing'] == routing
    assert cfg.model.get('use_target_point', False) == ('bench2drive' in name)
    if 'bench2drive' in name:  # CARLA logs: collisions at the ego origin, not nuScenes' LIDAR_TOP
        assert cfg.val_evaluator['collision_cfg']['ego_reference'] == 'ego'


def test_paper_scale_config_on_meta_device(capsys):
    require_flow_head()
    import projects.samoe.samoe  # noqa: F401

    cfg = Config.fromfile(CFG_DIR + 'samoe_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py')
    assert cfg.build_on_meta
    model_cfg = cfg.model.to_dict()
    model_cfg['vlm']['pretrained'] = None
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    counts = model.count_params()
    with capsys.disabled():
        print('\nSAMoE paper-scale parameters:', json.dumps(counts))
    assert all(p.is_meta for p in model.parameters())
    # the whole Qwen3-VL-4B (vision included) is the World-Language expert's module
    assert abs(counts['world_language_params'] - 4.44e9) / 4.44e9 < 0.03, counts
    g = model.vlm.head_geometry
    assert (g['num_layers'], g['num_heads'], g['num_kv_heads'], g['head_dim']) == (36, 32, 8, 128)
    ffns = model.moe_ffns()
    assert len(model.plan_layers) == 36 and len(ffns) == 36
    assert all(f.routing == 'scene' and f.num_experts == 4 and f.mode == 'merge' for f in ffns)
    # 36 x (attention 1024 -> 32x128 q / 8x128 kv + 4 experts x SwiGLU 1024/2048 + router)
    per_layer = 1024 * 4096 * 2 + 1024 * 1024 * 2 + 4 * 3 * 1024 * 2048 + 256 * 4 + 4
    assert abs(counts['planning_params'] - 36 * per_layer) / (36 * per_layer) < 0.01, counts
    assert model.bev_encoder.out_channels == 1512 and model.scene_encoder.embed_dims == 256
