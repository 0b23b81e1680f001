# Copyright (c) mmautomot contributors. All rights reserved.
"""Every registered VLM expert family meets the :class:`BaseVLMExpert` interface the MoT loop relies on."""

import pytest
import torch

from mmautomot.models.vlm import BaseVLMExpert
from mmautomot.registry import MODELS

FAMILIES = {
    'qwen3vl': dict(type='Qwen3VLUnderstandingExpert', preset='tiny', image_size=(32, 64), num_frames=2),
    'paligemma': dict(type='PaliGemmaUnderstandingExpert', preset='tiny', num_frames=2),
    'internvl': dict(type='InternVLUnderstandingExpert', preset='tiny', num_frames=2),
}


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_interface(family):
    torch.manual_seed(0)
    ue = MODELS.build(FAMILIES[family]).eval()
    assert isinstance(ue, BaseVLMExpert)
    g = ue.head_geometry
    assert set(g) == {'num_layers', 'num_heads', 'num_kv_heads', 'head_dim', 'hidden_size', 'rms_norm_eps'}
    assert len(ue.layers) == g['num_layers'] and ue.layers[0].self_attn.head_dim == g['head_dim']
    imgs = torch.randint(0, 256, (2, 2, 3, 40, 60), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    batch = ue.prepare_inputs(imgs, ['go', 'turn right please'])
    bsz, length = batch['input_ids'].shape
    emb = ue.embed(batch)
    assert emb['hidden'].shape == (bsz, length, g['hidden_size'])
    assert all(t.shape == (bsz, length, g['head_dim']) for t in emb['rope'])
    assert torch.equal(emb['valid'], batch['attention_mask'].bool()) and emb['next_position'].shape == (bsz,)
    pos = emb['next_position'][:, None] + torch.arange(5)
    assert all(t.shape == (bsz, 5, g['head_dim']) for t in ue.text_rope(emb['hidden'][:, :5], pos))
    cache = ue.new_cache(bsz, 256)
    assert cache.keys[0].shape == (bsz, g['num_kv_heads'], 256, g['head_dim'])
    with torch.no_grad():
        out = ue(batch, cache=cache, tick=3)
        plain = ue(batch)
    assert out.shape == (bsz, length, g['hidden_size']) and torch.equal(out, plain)
    assert cache.length == length and cache.created_tick == 3
    assert torch.equal(cache.next_position, emb['next_position'])
    assert ue.lm_logits(out).shape[:2] == (bsz, length)
    with pytest.raises(ValueError, match=f'{type(ue).__name__}: img_hist must be'):
        ue.prepare_inputs(torch.zeros(2, 2, 4, 8, 8, dtype=torch.uint8), ['a', 'b'])


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_fsdp_policy_wraps_vision_blocks(family):
    from mmautomot.models.mot.fsdp import mot_auto_wrap_policy

    ue = MODELS.build(FAMILIES[family])
    vision = getattr(ue.core.model, 'vision_tower', None) or ue.core.model.visual  # Qwen3-VL: visual
    blocks = [m for m in vision.modules() if mot_auto_wrap_policy(m, recurse=False, nonwrapped_numel=10**7)]
    linears = [m for m in blocks if isinstance(m, torch.nn.Linear)]
    assert len(blocks) - len(linears) >= 2  # one unit per vision block (the tiny presets have 2 or 3)
