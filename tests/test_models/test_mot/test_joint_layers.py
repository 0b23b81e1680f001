# Copyright (c) mmautomot contributors. All rights reserved.
import pytest
import torch

from mmautomot.models.mot import PrefixKVCache, mot_forward

GROUPS = (3, 4)


def _ae_tokens(model, bsz, seed=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(bsz, sum(GROUPS), model.ae_hidden_size, generator=g)


def test_joint_equals_cache_then_ae_tick(tiny_mot, ue_batch):
    ae_in = _ae_tokens(tiny_mot, 2)
    with torch.no_grad():
        ue_joint, ae_joint = tiny_mot.forward_joint(ue_batch, ae_in, GROUPS)
        cache = tiny_mot.ue_refresh(ue_batch, tick=0)
        ae_tick = tiny_mot.ae_step(ae_in, cache, GROUPS)
        ue_alone = tiny_mot.ue(ue_batch)
    assert ae_tick.shape == (2, sum(GROUPS), 48)
    torch.testing.assert_close(ae_tick, ae_joint, atol=1e-5, rtol=1e-5)
    # the UE does not depend on the AE
    valid = ue_batch['attention_mask'].bool()
    torch.testing.assert_close(ue_joint[valid], ue_alone[valid], atol=1e-5, rtol=1e-5)
    # sanity: the AE output does depend on the UE prefix
    other = dict(
        ue_batch,
        input_ids=ue_batch['input_ids'].flip(0),
        attention_mask=ue_batch['attention_mask'].flip(0),
        mm_token_type_ids=ue_batch['mm_token_type_ids'].flip(0),
    )
    with torch.no_grad():
        ae_other = tiny_mot.ae_step(ae_in, tiny_mot.ue_refresh(other), GROUPS)
    assert (ae_other - ae_tick).abs().max() > 1e-3


def test_ae_tick_leaves_cache_bit_identical(tiny_mot, ue_batch):
    with torch.no_grad():
        cache = tiny_mot.ue_refresh(ue_batch, tick=0)
    before_k = [k.clone() for k in cache.keys]
    before_v = [v.clone() for v in cache.values]
    state = (cache.length, cache.key_valid.clone(), cache.next_position.clone(), cache.created_tick)
    ptrs = [k.data_ptr() for k in cache.keys]
    ae_in = _ae_tokens(tiny_mot, 2).requires_grad_(True)
    out = tiny_mot.ae_step(ae_in, cache, GROUPS)
    out.sum().backward()  # the AE trains against a frozen cache without touching it
    for a, b in zip(before_k + before_v, cache.keys + cache.values):
        assert torch.equal(a.view(torch.int32), b.view(torch.int32))
    assert cache.length == state[0] and torch.equal(cache.key_valid, state[1])
    assert torch.equal(cache.next_position, state[2]) and cache.created_tick == state[3]
    assert ptrs == [k.data_ptr() for k in cache.keys]
    assert ae_in.grad is not None and ae_in.grad.abs().sum() > 0


def test_cache_is_read_only_and_sized(tiny_mot, ue_batch):
    with torch.no_grad():
        cache = tiny_mot.ue_refresh(ue_batch)
    k, _ = cache.get(0)
    assert cache.length == ue_batch['input_ids'].shape[1] and k.shape[2] == cache.length
    assert cache.capacity == 256 and cache.keys[0].shape[2] == 256
    # AE positions continue after the UE's M-RoPE positions (transformers' rope_deltas + valid length)
    _, deltas = tiny_mot.ue.core.model.get_rope_index(
        ue_batch['input_ids'],
        ue_batch['mm_token_type_ids'],
        ue_batch['image_grid_thw'],
        attention_mask=ue_batch['attention_mask'],
    )
    expected = deltas[:, 0] + ue_batch['attention_mask'].sum(1)
    assert torch.equal(cache.next_position, expected) and expected[1] - expected[0] == 28
    with pytest.raises(RuntimeError, match='read-only'):
        cache.write(0, k, k)
    small = PrefixKVCache(3, 2, 2, 16, capacity=8)
    with pytest.raises(ValueError, match='exceed the capacity 8'):
        small.begin_write(torch.ones(2, 9, dtype=torch.bool), torch.zeros(2))
    with pytest.raises(RuntimeError, match='empty'):
        PrefixKVCache(1, 1, 1, 4, 4).get(0)
    with pytest.raises(ValueError, match='AE-only pass'):
        mot_forward(
            None,
            tiny_mot.ae_layers,
            torch.zeros(1, 1, 64),
            None,
            None,
            None,
            torch.ones(1, 1, 1, 1),
            cache=cache,
            cache_mode='read',
        )


def test_ae_batch_mismatch(tiny_mot, ue_batch):
    with torch.no_grad():
        cache = tiny_mot.ue_refresh(ue_batch)
    with pytest.raises(ValueError, match='AE batch 1 != cache batch 2'):
        tiny_mot.ae_step(_ae_tokens(tiny_mot, 1), cache, GROUPS)


def test_mixed_dtype_experts(tiny_mot, ue_batch):
    """A bf16 UE (and cache) with an fp32 AE: attention runs in the UE dtype, outputs keep the AE dtype."""
    import copy

    model = copy.deepcopy(tiny_mot)
    model.ue.to(torch.bfloat16)
    ae_in = _ae_tokens(model, 2)
    with torch.no_grad():
        batch = dict(ue_batch, pixel_values=ue_batch['pixel_values'].to(torch.bfloat16))
        cache = model.ue_refresh(batch)
        out = model.ae_step(ae_in, cache, GROUPS)
        _, joint = model.forward_joint(batch, ae_in, GROUPS)
        ref = tiny_mot.ae_step(ae_in, tiny_mot.ue_refresh(ue_batch), GROUPS)
    assert cache.keys[0].dtype == torch.bfloat16 and out.dtype == torch.float32
    torch.testing.assert_close(out, joint, atol=1e-5, rtol=1e-5)
    assert (out - ref).abs().max() < 0.1  # bf16 rounding only
