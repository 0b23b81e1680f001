# Copyright (c) mmautomot contributors. All rights reserved.
"""FSDP auto-wrap policy for mixture-of-transformers models.

:func:`mmautomot.models.mot.joint_layers.mot_forward` calls each expert's projections / FFN directly
(``layer.self_attn.q_proj(x)``), not the decoder layers' own ``forward``; FSDP units must therefore be modules
whose ``forward`` runs, i.e. the ``nn.Linear`` leaves (and whole vision blocks, which run their ``forward``).
Modules marked ``_fsdp_no_wrap = True`` (tied ``lm_head``) stay in the root unit with their tied embedding.

Use from a config (mmengine resolves the dotted path)::

    strategy = dict(type='FSDPStrategy', model_wrapper=dict(auto_wrap_policy=dict(
        type='mmautomot.models.mot.fsdp.mot_auto_wrap_policy', min_num_params=1_000_000)))
"""
import torch.nn as nn

# Vision-encoder blocks of the VLM expert families (their own ``forward`` runs): Qwen3-VL, SigLIP (PaliGemma),
# InternViT (InternVL).
VISION_BLOCKS = ('Qwen3VLVisionBlock', 'SiglipEncoderLayer', 'InternVLVisionLayer')


def mot_auto_wrap_policy(module: nn.Module, recurse: bool, nonwrapped_numel: int,
                         min_num_params: int = 1_000_000) -> bool:
    """FSDP policy: wrap large ``nn.Linear`` leaves and VLM vision blocks; never tied heads."""
    if recurse:
        return True
    if getattr(module, '_fsdp_no_wrap', False):
        return False
    is_vision_block = type(module).__name__ in VISION_BLOCKS
    return (isinstance(module, nn.Linear) or is_vision_block) and nonwrapped_numel >= min_num_params
