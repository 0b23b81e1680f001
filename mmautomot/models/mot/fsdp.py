# Copyright (c) mmautomot contributors. All rights reserved.
"""FSDP auto-wrap policy for mixture-of-transformers models: one unit per joint layer.

:func:`mmautomot.models.mot.joint_layers.mot_forward` runs each depth through the ``forward`` of a
:class:`mmautomot.models.mot.joint_block.JointLayer`, which holds UE layer i and AE layer i. Wrapping each
joint layer makes one FSDP unit per depth (all-gathered once per layer, its gradients reduce-scattered
together), instead of one unit per ``nn.Linear``. Whole Qwen3-VL vision blocks (which run their own
``forward``) are units too. Everything else (embeddings, the tied ``lm_head``, final norms, the BEV encoder,
heads) stays in the root unit; modules marked ``_fsdp_no_wrap = True`` are never wrapped.

The UE decoder layers are also reachable through transformers' model (``...language_model.layers``): the
joint layer and transformers' model share them. FSDP visits transformers' path first and does not wrap
there (the policy wraps only joint layers), then wraps the joint layer, whose unit owns the shared
parameters; the root unit skips parameters already flattened by a unit. Use ``use_orig_params=True`` (the
frozen UE and the trainable AE share units).

Activation checkpointing: use the model's switch ``mot.checkpoint_layers=True`` (each joint layer recomputes
itself inside its FSDP unit), not ``FSDPStrategy(activation_checkpointing=...)``, whose wrapper modules would
change the parameter names the state-dict hooks of :class:`MoTTransformer` map.

Use from a config. It is registered in mmautomot's ``FUNCTIONS``; mmengine's FSDP wrapper looks the name up
in mmengine's root registry, so it needs the scope prefix (a dotted module path does not resolve either:
mmengine reads its first part as a registry scope)::

    strategy = dict(type='FSDPStrategy', model_wrapper=dict(
        auto_wrap_policy=dict(type='mmautomot.mot_auto_wrap_policy'), use_orig_params=True))
"""

import torch.nn as nn

from mmautomot.registry import FUNCTIONS

from .joint_block import JointLayer

#: class names of modules wrapped as their own units besides joint layers: the vision-encoder blocks of the VLM
#: expert families (Qwen3-VL, SigLIP of PaliGemma, InternViT of InternVL)
EXTRA_UNIT_TYPES = ('Qwen3VLVisionBlock', 'SiglipEncoderLayer', 'InternVLVisionLayer')


@FUNCTIONS.register_module()
def mot_auto_wrap_policy(module: nn.Module, recurse: bool, nonwrapped_numel: int, min_num_params: int = 0) -> bool:
    """FSDP (``auto_wrap_policy``) policy: a unit per :class:`JointLayer` and per vision block.

    Args:
        module (nn.Module): the candidate module.
        recurse (bool): FSDP asks whether to descend into ``module`` (always yes).
        nonwrapped_numel (int): parameters of ``module`` not yet in a unit.
        min_num_params (int): smallest unit; smaller joint layers / blocks stay in their parent's unit.
            Defaults to 0.
    """
    if recurse:
        return True
    if getattr(module, '_fsdp_no_wrap', False):
        return False
    is_unit = isinstance(module, JointLayer) or type(module).__name__ in EXTRA_UNIT_TYPES
    return is_unit and nonwrapped_numel >= min_num_params


def fsdp_unit_modules(model: nn.Module, min_num_params: int = 0):
    """The modules :func:`mot_auto_wrap_policy` makes units of (for FSDP2 ``fully_shard`` and DeepSpeed)."""
    return [
        m
        for m in model.modules()
        if mot_auto_wrap_policy(m, False, sum(p.numel() for p in m.parameters()), min_num_params)
    ]
