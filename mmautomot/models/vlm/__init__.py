# Copyright (c) mmautomot contributors. All rights reserved.
from .base_expert import BaseVLMExpert
from .internvl_expert import InternVLUnderstandingExpert
from .loading import build_hf_vlm, build_qwen3vl, load_checked_safetensors, missing_pretrained_files
from .paligemma_expert import PaliGemmaUnderstandingExpert
from .presets import (
    INTERNVL3_1B,
    INTERNVL_TINY,
    PALIGEMMA_3B,
    PALIGEMMA_TINY,
    QWEN3VL_4B,
    QWEN3VL_SMALL,
    QWEN3VL_TINY,
    VLM_PRESETS,
    paligemma_preset,
    qwen3vl_preset,
    resolve_vlm_config,
    vlm_preset,
)
from .qwen3vl_expert import DEFAULT_SYSTEM_PROMPT, Qwen3VLUnderstandingExpert, driving_prompt
from .tokenizer import ByteFallbackTokenizer, HFTokenizer, build_tokenizer

__all__ = [
    'Qwen3VLUnderstandingExpert',
    'build_qwen3vl',
    'load_checked_safetensors',
    'ByteFallbackTokenizer',
    'HFTokenizer',
    'build_tokenizer',
    'QWEN3VL_4B',
    'QWEN3VL_TINY',
    'qwen3vl_preset',
    'driving_prompt',
    'DEFAULT_SYSTEM_PROMPT',
    'BaseVLMExpert',
    'PaliGemmaUnderstandingExpert',
    'InternVLUnderstandingExpert',
    'build_hf_vlm',
    'missing_pretrained_files',
    'QWEN3VL_SMALL',
    'PALIGEMMA_3B',
    'PALIGEMMA_TINY',
    'INTERNVL3_1B',
    'INTERNVL_TINY',
    'VLM_PRESETS',
    'vlm_preset',
    'paligemma_preset',
    'resolve_vlm_config',
]
