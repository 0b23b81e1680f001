# Copyright (c) mmautomot contributors. All rights reserved.
from .loading import build_qwen3vl, load_checked_safetensors
from .qwen3vl_expert import DEFAULT_SYSTEM_PROMPT, Qwen3VLUnderstandingExpert, driving_prompt
from .presets import QWEN3VL_4B, QWEN3VL_TINY, qwen3vl_preset
from .tokenizer import ByteFallbackTokenizer, HFTokenizer, build_tokenizer

__all__ = [
    'Qwen3VLUnderstandingExpert', 'build_qwen3vl', 'load_checked_safetensors', 'ByteFallbackTokenizer',
    'HFTokenizer', 'build_tokenizer', 'QWEN3VL_4B', 'QWEN3VL_TINY', 'qwen3vl_preset', 'driving_prompt', 'DEFAULT_SYSTEM_PROMPT'
]
