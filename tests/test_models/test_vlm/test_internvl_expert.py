# Copyright (c) mmautomot contributors. All rights reserved.
"""InternVL specifics: input layout and presets (tiny; the 1B-like preset on the meta device). The checks
shared by every family are in test_expert_families.py."""

import pytest
import torch

from mmautomot.models.vlm import InternVLUnderstandingExpert


def test_prepare_inputs_layout():
    ue = InternVLUnderstandingExpert(preset='tiny', num_frames=2, system_prompt='Drive.')
    imgs = torch.randint(0, 256, (1, 2, 3, 20, 30), dtype=torch.uint8)
    batch = ue.prepare_inputs(imgs, ['go'])
    text = ue.tokenizer.decode(batch['input_ids'][0].tolist(), skip_special_tokens=False)
    frame = '<img>' + '<IMG_CONTEXT>' * 4 + '</img>\n'  # (32 / 8 / 2)^2 = 4 tokens after the pixel shuffle
    assert text == (
        '<|im_start|>system\nDrive.<|im_end|>\n<|im_start|>user\n' + frame * 2 + 'go<|im_end|>\n<|im_start|>assistant\n'
    )
    assert batch['pixel_values'].shape == (2, 3, 32, 32)
    emb = ue.embed(batch)
    assert 'prefix' not in emb and emb['next_position'].tolist() == [batch['input_ids'].shape[1]]


def test_1b_preset_on_meta():
    with torch.device('meta'):
        big = InternVLUnderstandingExpert(preset='internvl3-1b')
    assert big.head_geometry == dict(
        num_layers=24, num_heads=14, num_kv_heads=2, head_dim=64, hidden_size=896, rms_norm_eps=1e-6
    )
    assert big.tokens_per_image == 256 and big.image_size == (448, 448)
    n = sum(p.numel() for p in big.parameters())
    assert 0.93e9 < n < 0.95e9, n
    assert big.tokenizer is None  # a real vocabulary needs the folder's tokenizer
    with pytest.raises(RuntimeError, match='InternVLUnderstandingExpert: no tokenizer'):
        big.sample_ids(1, 'go')
