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
    cfg, model = _build_meta('automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py')
    counts = model.count_params()
    assert abs(counts['ue_params'] - 4.44e9) / 4.44e9 < 0.02, counts
    assert 1.6e9 <= counts['ae_params'] <= 1.7e9, counts  # the released padded layout
    assert all(p.is_meta for p in model.parameters())
    g = model.mot.ue.head_geometry
    assert (g['num_layers'], g['num_heads'], g['num_kv_heads'], g['head_dim']) == (36, 32, 8, 128)
    assert len(model.mot.ae_layers) == 36 and model.mot.ae_hidden_size == 2560
    layer = model.mot.ae_layers[0]
    assert type(layer).__name__ == 'PaddedActionExpertLayer'
    assert (layer.num_heads, layer.num_kv_heads, layer.head_dim) == (16, 4, 80)
    assert layer.mlp.gate_proj.out_features == 4864 and layer.self_attn.q_proj.bias is None
    assert type(model.tokens).__name__ == 'ReleasedActionTokens'
    assert model.tokens.reasoning_queries.weight.shape == (8, 588)
    assert model.tokens.bev_proj.weight.shape == (2560, 1512)
    assert model.velocity_head.mlp[2].out_features == 3
    print(
        f'paper-scale released layout: UE {counts["ue_params"]:,} AE {counts["ae_params"]:,} '
        f'other {counts["other_params"]:,}'
    )
    assert model.tokens.group_sizes == (64, 2 + 1, 8, 20, 6)  # the released packing's full blocks
    assert model.bev_encoder.out_channels == 1512
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy['type'] == 'FSDPStrategy'
    assert cfg.strategy['model_wrapper']['mixed_precision']['param_dtype'] == 'bfloat16'
    # the released recipe
    opt = cfg.optim_wrapper
    assert opt['optimizer'] == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    assert opt['clip_grad']['max_norm'] == 1.0
    assert [s['type'] for s in cfg.param_scheduler] == ['CosineAnnealingLR']
    assert cfg.param_scheduler[0]['eta_min'] == 2e-5
    assert [(h['type'], h['momentum']) for h in cfg.custom_hooks] == [('EMAHook', 1e-4)]
    assert (
        model.traj_head.loss_weight,
        model.path_head.loss_weight,
        model.velocity_head.loss_weight,
        model.meta_action_head.loss_weight,
    ) == (2.0, 1.0, 0.5, 0.4)
    assert cfg.model.traj_head.step_weights == [3, 3, 2, 2, 1, 1] and model.traj_head.loss_on == 'offsets'
    assert not model.path_head.released_cumsum_quirk
    assert model.mot.ue.frozen and not any(p.requires_grad for p in model.mot.ue.parameters())
    from mmautomot.models.mot import JointLayer
    from mmautomot.models.mot.fsdp import fsdp_unit_modules

    units = fsdp_unit_modules(model)
    assert sum(isinstance(u, JointLayer) for u in units) == 36 and len(units) == 36 + 24  # + vision blocks


def test_zero3_config_parses():
    """DeepSpeed is not installed here: the config must parse and its strategy keys be DeepSpeedStrategy's."""
    import inspect

    from mmengine._strategy import DeepSpeedStrategy

    cfg = Config.fromfile(CFG_DIR + 'automot_qwen3vl-4b-zero3_8xb1-12e_nuscenes-e2e.py')
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy['type'] == 'DeepSpeedStrategy'
    assert cfg.strategy['zero_optimization']['stage'] == 3 and cfg.strategy['bf16']['enabled']
    assert 'model_wrapper' not in cfg.strategy and cfg.optim_wrapper['type'] == 'DeepSpeedOptimWrapper'
    assert 'clip_grad' not in cfg.optim_wrapper and cfg.strategy['gradient_clipping'] == 1.0
    assert cfg.strategy['train_micro_batch_size_per_gpu'] == cfg.train_dataloader['batch_size']
    accepted = set(inspect.signature(DeepSpeedStrategy.__init__).parameters)
    assert set(cfg.strategy) - {'type'} <= accepted, set(cfg.strategy) - accepted
    assert cfg.model['mot']['checkpoint_layers'] is False  # the switch, inherited from the FSDP config


def test_small_config_ratio_on_meta_device():
    cfg, model = _build_meta('automot_small_1xb4-12e_nuscenes-e2e.py')
    counts = model.count_params()
    assert 90e6 <= counts['ue_params'] + counts['ae_params'] <= 120e6, counts
    assert 2.6 <= counts['ue_params'] / counts['ae_params'] <= 3.0, counts
    assert model.mot.ue.num_frames == 4 and model.tokens.group_sizes == (75, 26)


@pytest.mark.parametrize('name', ['automot_tiny_1xb2-200i_nuscenes-e2e.py'])
def test_tiny_config_parses(name):
    cfg = Config.fromfile(CFG_DIR + name)
    assert cfg.model.type == 'AutoMoT' and cfg.ue_refresh.type == 'UERefreshPolicy'
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
