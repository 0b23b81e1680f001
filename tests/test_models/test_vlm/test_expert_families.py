# Copyright (c) mmautomot contributors. All rights reserved.
"""What every VLM expert family must do, on tiny random-weight models built offline from presets: our layer
loop equals transformers' own forward (hidden states and logits), greedy answers equal a manual greedy loop
over transformers' model, LoRA / frozen / full training, and the joint pass equals the cached async pass."""

import pytest
import torch

from mmautomot.models.mot import MoTTransformer
from mmautomot.registry import MODELS

FAMILIES = {
    'qwen3vl': dict(type='Qwen3VLUnderstandingExpert', preset='tiny', image_size=(32, 64), num_frames=2),
    'paligemma': dict(type='PaliGemmaUnderstandingExpert', preset='tiny', num_frames=2),
    'internvl': dict(type='InternVLUnderstandingExpert', preset='tiny', num_frames=2),
}
GROUPS = (3, 4)


def randomise_norms(module, seed=0):
    """Random RMSNorm weights (Gemma initialises its (1 + w) weights to 0) so the tests see every norm."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if 'norm' in name and p.dim() == 1:
                p.copy_(p + torch.randn(p.shape, generator=g) * 0.3)


def build(family, **kw):
    torch.manual_seed(0)
    ue = MODELS.build(dict(FAMILIES[family], **kw))
    randomise_norms(ue)
    return ue.eval()


def frames(n, seed, size=(40, 60)):
    return torch.randint(0, 256, (n, 2, 3) + size, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope='module', params=sorted(FAMILIES))
def family_ue(request):
    return request.param, build(request.param)


def test_equals_transformers_forward(family_ue):
    _, ue = family_ue
    batch = ue.prepare_inputs(frames(2, 3), ['go', 'turn left at the junction'])
    valid = batch['attention_mask'].bool()
    assert (~valid).any()  # right padding is exercised
    with torch.no_grad():
        ours = ue(batch)
        ref = ue.core.model(**batch).last_hidden_state  # after the final norm
        torch.testing.assert_close(ours[valid], ref[valid], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ue.lm_logits(ours)[valid], ue.core(**batch).logits[valid], atol=1e-5, rtol=1e-5)


def test_greedy_answer_equals_manual_loop(family_ue):
    """``answer`` (transformers ``generate``, KV cache) == greedy full forwards of transformers' model; the
    first token is the argmax of our loop's logits."""
    _, ue = family_ue
    images, steps = frames(1, 5)[0], 6
    ids = ue.generate_ids('How is the weather?', images, max_new_tokens=steps)
    batch = ue.prepare_inputs([images], ['How is the weather?'])
    grow = {'input_ids': None, 'attention_mask': 1, 'token_type_ids': 1, 'mm_token_type_ids': 0}
    manual = []
    with torch.no_grad():
        first = int(ue.lm_logits(ue(batch))[0, -1].argmax())
        for _ in range(steps):
            nxt = int(ue.core(**batch).logits[0, -1].argmax())
            manual.append(nxt)
            if nxt == ue.tokenizer.eos_token_id:
                break
            for key, fill in grow.items():
                if key in batch:
                    new = batch[key].new_full((1, 1), nxt if fill is None else fill)
                    batch[key] = torch.cat([batch[key], new], dim=1)
    assert ids == manual and ids[0] == first
    assert ue.answer('How is the weather?', images, max_new_tokens=steps) == ue.tokenizer.decode(ids)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_training_modes(family):
    assert not any(p.requires_grad for p in build(family).parameters())  # frozen by default
    assert all(p.requires_grad for p in build(family, freeze=False).parameters())
    lora = build(family, lora=dict(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj'])).train()
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in n for n in trainable)
    assert hasattr(lora.layers[0].self_attn.q_proj, 'lora_A')
    lora(lora.prepare_inputs(frames(1, 1), ['go'])).square().sum().backward()  # adapters learn through our loop
    grads = [p.grad for n, p in lora.named_parameters() if 'layers.0.self_attn.q_proj.lora_B' in n]
    assert grads and grads[0].abs().sum() > 0


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_joint_pass_equals_cached_async_pass(family):
    torch.manual_seed(0)
    mot = MoTTransformer(ue=FAMILIES[family], ae=dict(hidden_size=48, intermediate_size=96), cache_capacity=256)
    randomise_norms(mot.ue)
    mot.eval()
    g = mot.ue.head_geometry
    attn = mot.ae_layers[0].self_attn  # the AE takes the UE's head geometry
    assert (attn.q_proj.out_features, attn.k_proj.out_features) == (
        g['num_heads'] * g['head_dim'],
        g['num_kv_heads'] * g['head_dim'],
    )
    ue_batch = mot.ue.prepare_inputs(frames(2, 1), ['go', 'turn left at the junction'])
    ae_in = torch.randn(2, sum(GROUPS), 48, generator=torch.Generator().manual_seed(2))
    valid = ue_batch['attention_mask'].bool()
    with torch.no_grad():
        ue_joint, ae_joint = mot.forward_joint(ue_batch, ae_in, GROUPS)
        cache = mot.ue_refresh(ue_batch, tick=0)
        ae_tick = mot.ae_step(ae_in, cache, GROUPS)
        ue_alone = mot.ue(ue_batch)
        other = mot.ae_step(ae_in, mot.ue_refresh(mot.ue.prepare_inputs(frames(2, 1), ['stop', 'go straight'])), GROUPS)
    torch.testing.assert_close(ae_tick, ae_joint, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ue_joint[valid], ue_alone[valid], atol=1e-5, rtol=1e-5)
    assert (other - ae_tick).abs().max() > 1e-3  # the AE reads the prefix
