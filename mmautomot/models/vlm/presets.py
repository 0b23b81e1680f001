# Copyright (c) mmautomot contributors. All rights reserved.
"""Qwen3-VL config presets (plain dicts for ``Qwen3VLConfig(**cfg)`` / ``Qwen3VLUnderstandingExpert``)."""
import copy

# Qwen3-VL-4B-Instruct (REFERENCE.md §1): text 36 x 2560 / FFN 9728, 32 heads / 8 KV / 128, vision 24 x 1024.
QWEN3VL_4B = dict(
    text_config=dict(
        vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
        max_position_embeddings=262144, tie_word_embeddings=True,
        rope_parameters=dict(rope_type='default', rope_theta=5000000.0, mrope_section=[24, 20, 20],
                             mrope_interleaved=True)),
    vision_config=dict(
        depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16,
        spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=2560, num_position_embeddings=2304,
        deepstack_visual_indexes=[5, 11, 17]),
    image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
    vision_end_token_id=151653, tie_word_embeddings=True)

# A tiny random-weight Qwen3-VL with vision and 3 DeepStack levels (tests, CPU smoke runs).
QWEN3VL_TINY = dict(
    text_config=dict(
        vocab_size=272, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, max_position_embeddings=4096,
        tie_word_embeddings=True,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0, mrope_section=[4, 2, 2],
                             mrope_interleaved=True)),
    vision_config=dict(
        depth=3, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2,
        temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=64,
        deepstack_visual_indexes=[0, 1, 2]),
    image_token_id=258, video_token_id=259, vision_start_token_id=256, vision_end_token_id=257,
    tie_word_embeddings=True)


def qwen3vl_preset(name: str) -> dict:
    """A deep copy of a preset: '4b' or 'tiny'."""
    presets = {'4b': QWEN3VL_4B, 'tiny': QWEN3VL_TINY}
    if name not in presets:
        raise KeyError(f'qwen3vl_preset: unknown preset {name!r}; choose from {sorted(presets)}')
    return copy.deepcopy(presets[name])
