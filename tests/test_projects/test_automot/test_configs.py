# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch
from mmengine.config import Config

from mmautomot.registry import MODELS

CFG_DIR = 'projects/automot/configs/'


def _build_meta(name):
    import projects.automot.automot  # noqa: F401
    cfg = Config.fromfile(CFG_DIR + name)
    assert cfg.default_scope == 'mmautomot'
    assert cfg.custom_imports['imports'] == ['projects.automot.automot']
    model_cfg = cfg.model.to_dict()
    model_cfg['mot']['ue']['pretrained'] = None
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    return cfg, model


def test_paper_scale_config_on_meta_device():
    cfg, model = _build_meta('automot_qwen3vl-4b_nuscenes-e2e.py')
    counts = model.count_params()
    assert abs(counts['ue_params'] - 4.44e9) / 4.44e9 < 0.02, counts
    assert 1.5e9 <= counts['ae_params'] <= 1.7e9, counts
    assert all(p.is_meta for p in model.parameters())
    g = model.mot.ue.head_geometry
    assert (g['num_layers'], g['num_heads'], g['num_kv_heads'], g['head_dim']) == (36, 32, 8, 128)
    assert len(model.mot.ae_layers) == 36 and model.mot.ae_hidden_size == 1536
    assert model.tokens.group_sizes == (64 + 2 + 1 + 8, 20 + 6)
    assert model.bev_encoder.out_channels == 1512
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy['type'] == 'FSDPStrategy'
    assert cfg.strategy['model_wrapper']['mixed_precision']['param_dtype'] == 'bfloat16'
    from mmautomot.models.mot import JointLayer
    from mmautomot.models.mot.fsdp import fsdp_unit_modules
    units = fsdp_unit_modules(model)
    assert sum(isinstance(u, JointLayer) for u in units) == 36 and len(units) == 36 + 24  # + vision blocks


def test_zero3_config_parses():
    """DeepSpeed is not installed here: the config must parse and its strategy keys be DeepSpeedStrategy's."""
    import inspect

    from mmengine._strategy import DeepSpeedStrategy
    cfg = Config.fromfile(CFG_DIR + 'automot_qwen3vl-4b_nuscenes-e2e_zero3.py')
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy['type'] == 'DeepSpeedStrategy'
    assert cfg.strategy['zero_optimization']['stage'] == 3 and cfg.strategy['bf16']['enabled']
    assert 'model_wrapper' not in cfg.strategy and cfg.optim_wrapper['type'] == 'DeepSpeedOptimWrapper'
    assert 'clip_grad' not in cfg.optim_wrapper and cfg.strategy['gradient_clipping'] == 1.0
    assert cfg.strategy['train_micro_batch_size_per_gpu'] == cfg.train_dataloader['batch_size']
    accepted = set(inspect.signature(DeepSpeedStrategy.__init__).parameters)
    assert set(cfg.strategy) - {'type'} <= accepted, set(cfg.strategy) - accepted
    assert cfg.model['mot']['checkpoint_layers'] is False  # the switch, inherited from the FSDP config


def test_small_config_ratio_on_meta_device():
    cfg, model = _build_meta('automot_small_nuscenes-e2e.py')
    counts = model.count_params()
    assert 90e6 <= counts['ue_params'] + counts['ae_params'] <= 120e6, counts
    assert 2.6 <= counts['ue_params'] / counts['ae_params'] <= 3.0, counts
    assert model.mot.ue.num_frames == 4 and model.tokens.group_sizes == (75, 26)


@pytest.mark.parametrize('name', ['automot_tiny_nuscenes-e2e.py'])
def test_tiny_config_parses(name):
    cfg = Config.fromfile(CFG_DIR + name)
    assert cfg.model.type == 'AutoMoT' and cfg.scheduler.type == 'AsyncScheduler'
    assert cfg.train_dataloader.dataset.type == 'NuScenesE2EDataset'


def test_fsdp_policy_wraps_joint_layers_not_linears():
    import torch.nn as nn
    from mmautomot.models.mot import JointLayer
    from mmautomot.models.mot.fsdp import mot_auto_wrap_policy
    lin = nn.Linear(1000, 1000)
    joint = JointLayer(lin, None, 0)
    assert mot_auto_wrap_policy(joint, False, 1_001_000) and not mot_auto_wrap_policy(lin, False, 1_001_000)
    assert not mot_auto_wrap_policy(joint, False, 10, min_num_params=100)
    joint._fsdp_no_wrap = True
    assert not mot_auto_wrap_policy(joint, False, 1_001_000) and mot_auto_wrap_policy(lin, True, 0)
