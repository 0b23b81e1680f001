# Copyright (c) mmautomot contributors. All rights reserved.
"""VLM presets by name: the AutoMoT configs name them instead of copying HF config dicts."""

import pytest
from mmengine.config import Config

from mmautomot.models.vlm import VLM_PRESETS, qwen3vl_preset, resolve_vlm_config, vlm_preset


@pytest.mark.parametrize(
    'config,family,preset',
    [
        ('projects/automot/configs/automot_tiny_1xb2-200i_nuscenes-e2e.py', 'qwen3vl', 'tiny'),
        ('projects/automot/configs/automot_small_1xb4-12e_nuscenes-e2e.py', 'qwen3vl', 'small'),
        ('projects/automot/configs/automot_qwen3vl-4b_8xb1-12e_nuscenes-e2e.py', 'qwen3vl', '4b'),
        ('projects/automot/configs/automot_paligemma-tiny_1xb2-200i_nuscenes-e2e.py', 'paligemma', 'tiny'),
        ('projects/automot/configs/automot_paligemma-3b_8xb1-12e_nuscenes-e2e.py', 'paligemma', 'paligemma-3b'),
        ('projects/automot/configs/automot_internvl-tiny_1xb2-200i_nuscenes-e2e.py', 'internvl', 'tiny'),
    ],
)
def test_configs_name_presets(config, family, preset):
    ue = Config.fromfile(config).model.mot.ue
    assert ue.preset == preset and 'config' not in ue and preset in VLM_PRESETS[family]


def test_preset_geometry():
    assert qwen3vl_preset('4b')['text_config']['num_hidden_layers'] == 36
    assert qwen3vl_preset('small')['text_config']['hidden_size'] == 640
    pg = vlm_preset('paligemma', 'paligemma-3b')
    assert (
        pg['text_config']['num_hidden_layers'],
        pg['text_config']['hidden_size'],
        pg['text_config']['num_key_value_heads'],
        pg['text_config']['head_dim'],
        pg['vision_config']['patch_size'],
        pg['vision_config']['image_size'],
    ) == (18, 2048, 1, 256, 14, 224)


def test_resolve_merges_and_copies():
    cfg = resolve_vlm_config('qwen3vl', 'tiny', dict(text_config=dict(num_hidden_layers=2)))
    assert cfg['text_config']['num_hidden_layers'] == 2 and cfg['text_config']['hidden_size'] == 64
    assert qwen3vl_preset('tiny')['text_config']['num_hidden_layers'] == 3
    assert resolve_vlm_config('qwen3vl', None, None) is None
    as_dict = resolve_vlm_config('qwen3vl', qwen3vl_preset('tiny'), None)
    assert as_dict == qwen3vl_preset('tiny')


def test_unknown_preset():
    with pytest.raises(KeyError, match="unknown preset 'huge'"):
        qwen3vl_preset('huge')
    with pytest.raises(KeyError, match="unknown VLM family 'llava'"):
        vlm_preset('llava', 'tiny')
