# Copyright (c) mmautomot contributors. All rights reserved.
"""VLM config presets by name (plain dicts for the transformers config classes), in the spirit of
mmpretrain's ``arch_zoo``: an expert takes ``preset='4b'`` (or a dict) instead of a config copied into every
model config. ``VLM_PRESETS[family][name]``; :func:`resolve_vlm_config` merges overrides over a preset."""

import copy
from typing import Optional, Union

# Qwen3-VL-4B-Instruct (REFERENCE.md §1): text 36 x 2560 / FFN 9728, 32 heads / 8 KV / 128, vision 24 x 1024.
QWEN3VL_4B = dict(
    text_config=dict(
        vocab_size=151936,
        hidden_size=2560,
        intermediate_size=9728,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        rms_norm_eps=1e-6,
        max_position_embeddings=262144,
        tie_word_embeddings=True,
        rope_parameters=dict(
            rope_type='default', rope_theta=5000000.0, mrope_section=[24, 20, 20], mrope_interleaved=True
        ),
    ),
    vision_config=dict(
        depth=24,
        hidden_size=1024,
        intermediate_size=4096,
        num_heads=16,
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        out_hidden_size=2560,
        num_position_embeddings=2304,
        deepstack_visual_indexes=[5, 11, 17],
    ),
    image_token_id=151655,
    video_token_id=151656,
    vision_start_token_id=151652,
    vision_end_token_id=151653,
    tie_word_embeddings=True,
)

# A tiny random-weight Qwen3-VL with vision and 3 DeepStack levels (tests, CPU smoke runs).
QWEN3VL_TINY = dict(
    text_config=dict(
        vocab_size=272,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rms_norm_eps=1e-6,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0, mrope_section=[4, 2, 2], mrope_interleaved=True),
    ),
    vision_config=dict(
        depth=3,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        out_hidden_size=64,
        num_position_embeddings=64,
        deepstack_visual_indexes=[0, 1, 2],
    ),
    image_token_id=258,
    video_token_id=259,
    vision_start_token_id=256,
    vision_end_token_id=257,
    tie_word_embeddings=True,
)


# AutoMoT-small's UE (random init): text 12 x 640 / FFN 1920, 8 heads / 2 KV / 64, vision 8 x 384.
QWEN3VL_SMALL = dict(
    text_config=dict(
        vocab_size=272,
        hidden_size=640,
        intermediate_size=1920,
        num_hidden_layers=12,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=64,
        rms_norm_eps=1e-6,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        rope_parameters=dict(
            rope_type='default', rope_theta=5000000.0, mrope_section=[12, 10, 10], mrope_interleaved=True
        ),
    ),
    vision_config=dict(
        depth=8,
        hidden_size=384,
        intermediate_size=1536,
        num_heads=6,
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
        out_hidden_size=640,
        num_position_embeddings=2304,
        deepstack_visual_indexes=[1, 3, 5],
    ),
    image_token_id=258,
    video_token_id=259,
    vision_start_token_id=256,
    vision_end_token_id=257,
    tie_word_embeddings=True,
)

# PaliGemma-3B (pt-224; DriveMoE's Drive-pi0 base): SigLIP so400m/14 at 224 (27 x 1152, FFN 4304, 16 heads,
# 256 image tokens) + Gemma 2B (18 x 2048, FFN 16384 GeGLU, 8 heads / 1 KV / 256, vocab 257216). ~2.92B.
PALIGEMMA_3B = dict(
    text_config=dict(
        model_type='gemma',
        vocab_size=257216,
        hidden_size=2048,
        intermediate_size=16384,
        num_hidden_layers=18,
        num_attention_heads=8,
        num_key_value_heads=1,
        head_dim=256,
        rms_norm_eps=1e-6,
        max_position_embeddings=8192,
        hidden_activation='gelu_pytorch_tanh',
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0),
    ),
    vision_config=dict(
        model_type='siglip_vision_model',
        hidden_size=1152,
        intermediate_size=4304,
        num_hidden_layers=27,
        num_attention_heads=16,
        patch_size=14,
        image_size=224,
        vision_use_head=False,
    ),
    image_token_index=257152,
    vocab_size=257216,
    projection_dim=2048,
    hidden_size=2048,
    pad_token_id=0,
)

# A tiny random-weight PaliGemma (tests, CPU smoke runs): 32 x 32 images of 8 x 8 patches = 16 image tokens;
# ids 0..255 are bytes (ByteFallbackTokenizer), 256 <pad>, 257 <eos>, 258 <bos>, 259 <image>.
PALIGEMMA_TINY = dict(
    text_config=dict(
        model_type='gemma',
        vocab_size=264,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        rms_norm_eps=1e-6,
        max_position_embeddings=2048,
        hidden_activation='gelu_pytorch_tanh',
        pad_token_id=256,
        eos_token_id=257,
        bos_token_id=258,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0),
    ),
    vision_config=dict(
        model_type='siglip_vision_model',
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=8,
        image_size=32,
        vision_use_head=False,
    ),
    image_token_index=259,
    vocab_size=264,
    projection_dim=64,
    hidden_size=64,
    pad_token_id=256,
)

# InternVL3-1B-like: InternViT-300M (24 x 1024, FFN 4096, 16 heads, 448 px / 14, pixel shuffle 0.5 -> 256
# tokens) + Qwen2.5-0.5B (24 x 896, FFN 4864, 14 heads / 2 KV / 64; InternVL3 unties its LM head). ~0.94B.
INTERNVL3_1B = dict(
    text_config=dict(
        model_type='qwen2',
        vocab_size=151674,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        max_position_embeddings=32768,
        tie_word_embeddings=False,
        rope_parameters=dict(rope_type='default', rope_theta=1000000.0),
    ),
    vision_config=dict(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        image_size=[448, 448],
        patch_size=[14, 14],
        layer_scale_init_value=0.1,
    ),
    image_token_id=151667,
    image_seq_length=256,
    downsample_ratio=0.5,
    tie_word_embeddings=False,
)

# A tiny random-weight InternVL (tests): 32 x 32 frames of 8 x 8 patches, pixel shuffle -> 4 tokens per frame;
# ids 0..255 bytes, 256..261 the specials of ``internvl_expert.INTERNVL_TINY_SPECIAL_TOKENS``.
INTERNVL_TINY = dict(
    text_config=dict(
        model_type='qwen2',
        vocab_size=272,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0),
    ),
    vision_config=dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=[32, 32],
        patch_size=[8, 8],
    ),
    image_token_id=261,
    image_seq_length=4,
    downsample_ratio=0.5,
    tie_word_embeddings=True,
)

VLM_PRESETS = {
    'qwen3vl': {'4b': QWEN3VL_4B, 'small': QWEN3VL_SMALL, 'tiny': QWEN3VL_TINY},
    'paligemma': {'paligemma-3b': PALIGEMMA_3B, '3b': PALIGEMMA_3B, 'tiny': PALIGEMMA_TINY},
    'internvl': {'internvl3-1b': INTERNVL3_1B, '1b': INTERNVL3_1B, 'tiny': INTERNVL_TINY},
}


def vlm_preset(family: str, name: str) -> dict:
    """A deep copy of the named preset of a VLM family ('qwen3vl', 'paligemma')."""
    if family not in VLM_PRESETS:
        raise KeyError(f'vlm_preset: unknown VLM family {family!r}; choose from {sorted(VLM_PRESETS)}')
    presets = VLM_PRESETS[family]
    if name not in presets:
        raise KeyError(f'{family}_preset: unknown preset {name!r}; choose from {sorted(presets)}')
    return copy.deepcopy(presets[name])


def qwen3vl_preset(name: str) -> dict:
    """A deep copy of a Qwen3-VL preset: '4b', 'small' or 'tiny'."""
    return vlm_preset('qwen3vl', name)


def paligemma_preset(name: str) -> dict:
    """A deep copy of a PaliGemma preset: 'paligemma-3b' (alias '3b') or 'tiny'."""
    return vlm_preset('paligemma', name)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def resolve_vlm_config(family: str, preset: Union[str, dict, None], config: Optional[dict]) -> Optional[dict]:
    """The config dict of an expert: ``preset`` (a name or a dict) with ``config`` deep-merged over it.

    Returns None when both are None (the pretrained folder's own config is then used).
    """
    if preset is None:
        return None if config is None else copy.deepcopy(dict(config))
    base = vlm_preset(family, preset) if isinstance(preset, str) else copy.deepcopy(dict(preset))
    return base if config is None else _merge(base, dict(config))
