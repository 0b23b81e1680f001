# Copyright (c) mmautomot contributors. All rights reserved.
"""PaliGemma specifics: input layout, the bidirectional prefix (prefix-LM), presets (tiny and the paper-scale
3B on the meta device). The checks shared by every family are in test_expert_families.py."""

import pytest
import torch

from mmautomot.models.vlm import PaliGemmaUnderstandingExpert, paligemma_preset
from mmautomot.registry import MODELS


def _randomise_norms(module, seed=0):
    """Gemma initialises its (1 + w) RMSNorm weights to 0; random ones make the test see the norm."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'norm' in name and p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.fixture(scope='module')
def ue():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='PaliGemmaUnderstandingExpert', preset='tiny', num_frames=2)).eval()
    _randomise_norms(model)
    return model


@pytest.fixture(scope='module')
def batch(ue):
    imgs = torch.randint(0, 256, (2, 2, 3, 40, 50), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    return ue.prepare_inputs(imgs, ['go', 'turn left at the junction'])


def test_prepare_inputs(ue, batch):
    ids, valid = batch['input_ids'], batch['attention_mask'].bool()
    image_id = ue.core.config.image_token_id
    # 2 frames x (32 / 8)^2 = 32 image tokens first, then <bos>, the prompt and '\n'
    assert (ids == image_id).sum(1).tolist() == [32, 32] and (ids[:, :32] == image_id).all()
    assert (ids[:, 32] == 258).all()
    assert ue.tokenizer.decode(ids[1, 33:].tolist()) == 'turn left at the junction\n'
    assert valid.sum(1).tolist() == [32 + 1 + 3, 32 + 1 + 26]  # right padding in sample 0
    assert torch.equal(batch['token_type_ids'], (~valid).long())
    assert batch['pixel_values'].shape == (4, 3, 32, 32)


def test_prefix_lm_equals_transformers(ue, batch):
    """Our loop (Gemma norms, 1-D RoPE, MQA, prefix-LM mask) gives transformers' hidden states and logits."""
    valid = batch['attention_mask'].bool()
    with torch.no_grad():
        ours = ue(batch)
        ref = ue.core.model(**batch).last_hidden_state  # after the final norm
        torch.testing.assert_close(ours[valid], ref[valid], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ue.lm_logits(ours)[valid], ue.core(**batch).logits[valid], atol=1e-5, rtol=1e-5)
        # the prefix is bidirectional: a causal mask (no token types) gives other hidden states
        causal = ue.core.model(
            input_ids=batch['input_ids'], pixel_values=batch['pixel_values'], attention_mask=batch['attention_mask']
        ).last_hidden_state
        assert (causal[valid] - ours[valid]).abs().max() > 1e-2
    emb = ue.embed(batch)
    assert torch.equal(emb['prefix'], valid)
    assert emb['next_position'].tolist() == [37, 60]  # 1-indexed positions, one past the last token


def test_presets_and_paper_scale_on_meta():
    tiny = paligemma_preset('tiny')
    tiny['text_config']['num_hidden_layers'] = 99
    assert paligemma_preset('tiny')['text_config']['num_hidden_layers'] == 3  # a copy
    two = PaliGemmaUnderstandingExpert(preset='tiny', config=dict(text_config=dict(num_hidden_layers=2)))
    assert len(two.layers) == 2 and two.core.config.text_config.hidden_size == 64  # merged over the preset
    with pytest.raises(KeyError, match="unknown preset 'huge'"):
        PaliGemmaUnderstandingExpert(preset='huge')
    with torch.device('meta'):
        big = PaliGemmaUnderstandingExpert(preset='paligemma-3b')
    assert big.head_geometry == dict(
        num_layers=18, num_heads=8, num_kv_heads=1, head_dim=256, hidden_size=2048, rms_norm_eps=1e-6
    )
    assert big.layers[0].mlp.up_proj.out_features == 16384 and big.tokens_per_image == 256
    n = sum(p.numel() for p in big.parameters())
    vision = sum(p.numel() for p in big.core.model.vision_tower.parameters())
    assert 2.85e9 < n < 2.95e9 and 0.40e9 < vision < 0.43e9, (n, vision)
    assert big.tokenizer is None  # a real vocabulary needs the folder's tokenizer
    with pytest.raises(RuntimeError, match='no tokenizer'):
        big.prefix_ids(1, 'go')


def test_precomputed_image_features_equal_the_vision_tower(ue):
    """``encode_images`` + ``batch['image_features']`` (DriveMoE encodes only a routed view) gives the same
    embeddings as running SigLIP inside ``embed``; other frames' features change the image slots only."""
    imgs = torch.randint(0, 256, (2, 2, 3, 40, 50), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    batch = ue.prepare_inputs(imgs, ['go', 'stop'])
    with torch.no_grad():
        ref = ue.embed(batch)
        feats = ue.encode_images(imgs.flatten(0, 1))
        assert feats['embeds'].shape == (4, 16, ue.text_config.hidden_size) and feats['deepstack'] == []
        got = ue.embed(dict(batch, image_features=feats))
        torch.testing.assert_close(got['hidden'], ref['hidden'], rtol=0, atol=0)
        other = ue.embed(dict(batch, image_features=dict(embeds=feats['embeds'].flip(0), deepstack=[])))
    image = batch['input_ids'] == ue.core.config.image_token_id
    assert not torch.equal(other['hidden'][image], ref['hidden'][image])
    torch.testing.assert_close(other['hidden'][~image], ref['hidden'][~image], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r'frames must be \(N, 3, H, W\)'):
        ue.encode_images(imgs)
