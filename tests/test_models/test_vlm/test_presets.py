# Copyright (c) mmautomot contributors. All rights reserved.
"""The Qwen3-VL presets (used by code and tests) and the AutoMoT configs (text) must not drift apart."""
import pytest
from mmengine.config import Config

from mmautomot.models.vlm import qwen3vl_preset


@pytest.mark.parametrize('preset,config,key', [
    ('tiny', 'projects/automot/configs/automot_tiny_nuscenes-e2e.py', 'qwen3vl_tiny'),
    ('4b', 'projects/automot/configs/automot_qwen3vl-4b_nuscenes-e2e.py', 'qwen3vl_4b'),
])
def test_config_matches_preset(preset, config, key):
    assert Config.fromfile(config)[key].to_dict() == qwen3vl_preset(preset)


def test_unknown_preset():
    with pytest.raises(KeyError, match="unknown preset 'huge'"):
        qwen3vl_preset('huge')
