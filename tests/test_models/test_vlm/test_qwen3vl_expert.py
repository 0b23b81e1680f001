# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest
import torch

from mmautomot.models.vlm import ByteFallbackTokenizer, Qwen3VLUnderstandingExpert, driving_prompt, qwen3vl_preset
from mmautomot.registry import MODELS


@pytest.fixture(scope='module')
def ue():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='Qwen3VLUnderstandingExpert', config=qwen3vl_preset('tiny'), image_size=(32, 64), num_frames=2)
    ).eval()


@pytest.fixture(scope='module')
def batch(ue):
    imgs = torch.randint(0, 256, (2, 2, 3, 48, 80), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    return ue.prepare_inputs(imgs, [driving_prompt(0, 3.2), driving_prompt(3, 12.0) + ' Stay alert.'])


def test_prepare_inputs(ue, batch):
    cfg = ue.core.config
    ids = batch['input_ids']
    # 2 frames per sample, each 32x64 -> 2x4 patches -> 2 merged tokens, wrapped in vision start/end
    assert (ids == cfg.image_token_id).sum(1).tolist() == [4, 4]
    assert (ids == cfg.vision_start_token_id).sum(1).tolist() == [2, 2]
    assert torch.equal(batch['mm_token_type_ids'].bool(), ids == cfg.image_token_id)
    assert batch['image_grid_thw'].tolist() == [[1, 2, 4]] * 4
    assert batch['attention_mask'][0].sum() < batch['attention_mask'][1].sum()  # right padding
    assert 'Navigation command: turn left. Current speed: 3.2 m/s.' in ue.tokenizer.decode(ids[0].tolist())


def test_ue_path_equals_transformers_forward(ue, batch):
    """Our layer loop (M-RoPE, DeepStack, mask) reproduces transformers' Qwen3-VL hidden states."""
    with torch.no_grad():
        ours = ue(batch)
        ref = ue.core.model(**batch).last_hidden_state
        valid = batch['attention_mask'].bool()
        torch.testing.assert_close(ours[valid], ref[valid], atol=1e-5, rtol=1e-5)
        # DeepStack matters: dropping it changes the result
        emb = ue.embed(batch)
        assert len(emb['deepstack']) == 3 and emb['visual_pos_masks'].sum() == 8
        no_ds = ue.core.model.language_model(
            inputs_embeds=emb['hidden'], attention_mask=batch['attention_mask'], position_ids=emb['position_ids']
        ).last_hidden_state
        assert (no_ds[valid] - ref[valid]).abs().max() > 1e-3


def test_answer_returns_string(ue):
    frames = [np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8) for _ in range(2)]
    text = ue.answer('How is the weather?', frames, max_new_tokens=6)
    assert isinstance(text, str)


def test_frozen_by_default_and_lora():
    ue = Qwen3VLUnderstandingExpert(config=qwen3vl_preset('tiny'), image_size=(32, 64))
    assert not any(p.requires_grad for p in ue.parameters())
    full = Qwen3VLUnderstandingExpert(config=qwen3vl_preset('tiny'), image_size=(32, 64), freeze=False)
    assert all(p.requires_grad for p in full.parameters())
    lora = Qwen3VLUnderstandingExpert(
        config=qwen3vl_preset('tiny'),
        image_size=(32, 64),
        lora=dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj']),
    )
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in n for n in trainable)
    assert len(lora.layers) == 3 and hasattr(lora.layers[0].self_attn.q_proj, 'lora_A')


def test_bad_image_size():
    with pytest.raises(ValueError, match='multiples of patch_size'):
        Qwen3VLUnderstandingExpert(config=qwen3vl_preset('tiny'), image_size=(30, 64))


def test_byte_fallback_tokenizer():
    tok = ByteFallbackTokenizer()
    ids = tok.encode('<|im_start|>héllo<|image_pad|>')
    assert ids[0] == 257 and ids[-1] == 261 and len(ids) == 1 + 6 + 1
    assert tok.decode(ids) == 'héllo'
    assert tok.decode(ids, skip_special_tokens=False) == '<|im_start|>héllo<|image_pad|>'
    with pytest.raises(ValueError, match='must be >= 256'):
        ByteFallbackTokenizer(special_tokens={'<|im_end|>': 3, '<|endoftext|>': 300})


def test_precomputed_image_features_equal_the_encoder_path(ue):
    """``encode_images`` + ``batch['image_features']`` (images encoded, selected or edited by the caller)
    give the same embeddings as ``embed`` running the vision encoder itself."""
    g = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (2, 2, 3, 40, 70), dtype=torch.uint8, generator=g)  # resized inside
    batch = ue.prepare_inputs(frames, ['a', 'bb'])
    feats = ue.encode_images(frames.flatten(0, 1))
    assert feats['embeds'].shape[0] == 4 and len(feats['deepstack']) == len(
        ue.core.config.vision_config.deepstack_visual_indexes
    )
    ref, pre = ue.embed(batch), ue.embed(dict(batch, image_features=feats))
    assert torch.allclose(ref['hidden'], pre['hidden'], atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ref['deepstack'], pre['deepstack']))
    # the features are really used: editing one image's tokens changes exactly its positions
    edited = dict(embeds=feats['embeds'].clone(), deepstack=feats['deepstack'])
    edited['embeds'][3] += 1.0
    out = ue.embed(dict(batch, image_features=edited))['hidden']
    changed = (out - ref['hidden']).abs().sum(-1) > 0
    assert changed[0].sum() == 0 and changed[1].sum() == feats['embeds'].shape[1]
    with pytest.raises(ValueError, match=r'frames must be \(N, 3, H, W\)'):
        ue.encode_images(frames)
