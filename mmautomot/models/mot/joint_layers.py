# Copyright (c) mmautomot contributors. All rights reserved.
"""The one layer loop of the mixture-of-transformers (used by training and by inference).

Paper: AutoMoT (layer-wise joint attention between an understanding expert and an action expert). At every
layer each expert applies its own input RMSNorm, Q/K/V projections and per-head q/k RMSNorm; one rotary
embedding is applied (the UE's interleaved M-RoPE; AE tokens get positions continuing after the UE's);
queries, keys and values are concatenated along the sequence and attended in ONE
``scaled_dot_product_attention`` call (GQA) under the task mask
(:func:`mmautomot.models.mot.task_mask.build_task_mask`); the result is split back and each expert applies
its own output projection, residual and SwiGLU FFN. DeepStack visual features are added to the UE hidden
states at image positions after UE layers ``0 .. len(deepstack) - 1``, as transformers' Qwen3-VL does.

Three passes share :func:`mot_forward`:

* joint (training, AutoMoT-S): UE and AE hidden states, full mask;
* UE refresh: UE hidden states only (optionally writing a :class:`PrefixKVCache`);
* AE tick: AE hidden states only, UE keys/values read from the cache (never written). The attention keys are
  a concatenation of the cache views and the AE keys made in a new tensor outside the cache. Measured on CPU
  at paper geometry (32 heads / 8 KV / 128, 620 UE + 101 AE tokens, fp32): SDPA over the concatenation was
  faster than two attention calls merged by log-sum-exp (53 vs 88 ms per layer on a busy 2-core machine;
  the copy itself costs 0.14 ms; results agree to 2e-7), so the concatenation is used.
"""

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .joint_block import JointLayer, RoPE, add_deepstack  # noqa: F401 (add_deepstack re-exported)
from .prefix_kv_cache import PrefixKVCache


def mot_forward(
    ue_layers: Optional[Sequence],
    ae_layers: Optional[Sequence],
    ue_hidden: Optional[Tensor],
    ae_hidden: Optional[Tensor],
    ue_rope: Optional[RoPE],
    ae_rope: Optional[RoPE],
    mask: Tensor,
    deepstack: Optional[List[Tensor]] = None,
    visual_pos_masks: Optional[Tensor] = None,
    cache: Optional[PrefixKVCache] = None,
    cache_mode: Optional[str] = None,
    joint_layers: Optional[Sequence[JointLayer]] = None,
) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Run the joint decoder layers: one :class:`JointLayer` step per depth.

    Args:
        ue_layers (Sequence | None): UE decoder layers (transformers ``Qwen3VLTextDecoderLayer``).
        ae_layers (Sequence | None): AE layers (:class:`ActionExpertLayer`), same count as the UE's.
        ue_hidden (Tensor | None): (B, L_u, C_u) UE input embeddings; None in an AE tick.
        ae_hidden (Tensor | None): (B, L_a, C_a) AE input embeddings; None in a UE-only pass.
        ue_rope / ae_rope (tuple[Tensor, Tensor] | None): (cos, sin), each (B, L, head_dim), from the
            UE's rotary embedding (``BaseVLMExpert.text_rope``).
        mask (Tensor): (B, 1, L_q, L_k) bool, True = attend; rows are the present queries (UE then AE),
            columns UE then AE keys (from the cache in an AE tick).
        deepstack (list[Tensor] | None): DeepStack features, each (N_vis, C_u).
        visual_pos_masks (Tensor | None): (B, L_u) bool image positions.
        cache (PrefixKVCache | None): the prefix cache.
        cache_mode (str | None): 'write' (UE pass stores its keys/values), 'read' (AE tick reads them) or
            None.
        joint_layers (Sequence[JointLayer] | None): registered joint layers (``MoTTransformer.joint_layers``)
            to run instead of ``ue_layers`` / ``ae_layers`` (give one or the other). Their ``forward`` is the
            call that runs each depth, so FSDP units and activation checkpointing apply. With
            ``ue_layers`` / ``ae_layers``, transient joint layers are made for the call.

    Returns:
        tuple: (UE hidden (B, L_u, C_u) or None, AE hidden (B, L_a, C_a) or None), before the final norms.
    """
    if cache_mode not in (None, 'write', 'read'):
        raise ValueError(f"mot_forward: cache_mode must be None, 'write' or 'read', got {cache_mode!r}")
    if cache_mode is not None and cache is None:
        raise ValueError(f'mot_forward: cache_mode={cache_mode!r} needs a PrefixKVCache')
    if cache_mode == 'read' and ue_hidden is not None:
        raise ValueError("mot_forward: cache_mode='read' is an AE-only pass; pass ue_hidden=None")
    if cache_mode == 'write' and ue_hidden is None:
        raise ValueError("mot_forward: cache_mode='write' needs the UE hidden states")
    if joint_layers is None:
        num_layers = len(ue_layers) if ue_layers is not None else len(ae_layers)
        if ae_hidden is not None and len(ae_layers) != num_layers:
            raise ValueError(f'mot_forward: {len(ae_layers)} AE layers but {num_layers} UE layers')
        joint_layers = [
            JointLayer(
                ue_layers[i] if ue_hidden is not None else None, ae_layers[i] if ae_hidden is not None else None, i
            )
            for i in range(num_layers)
        ]
    elif ue_layers is not None or ae_layers is not None:
        raise ValueError('mot_forward: give joint_layers or ue_layers / ae_layers, not both')
    else:
        missing = [
            name
            for name, hidden, attr in (('UE', ue_hidden, 'ue'), ('AE', ae_hidden, 'ae'))
            if hidden is not None and any(getattr(jl, attr) is None for jl in joint_layers)
        ]
        if missing:
            raise ValueError(
                f'mot_forward: {missing[0]} hidden states given but the joint layers hold no {missing[0]} layer'
            )
    for i, layer in enumerate(joint_layers):
        feat = deepstack[i] if deepstack is not None and i < len(deepstack) and ue_hidden is not None else None
        ue_hidden, ae_hidden = layer(
            ue_hidden, ae_hidden, ue_rope, ae_rope, mask, feat, visual_pos_masks, cache, cache_mode
        )
    if cache_mode == 'write':
        cache.end_write()
    return ue_hidden, ae_hidden


def ae_position_ids(next_position: Tensor, num_tokens: int) -> Tensor:
    """M-RoPE position ids (3, B, L_a) of AE tokens continuing after the UE's: ``next_position + arange``."""
    pos = next_position.reshape(-1, 1) + torch.arange(num_tokens, device=next_position.device)
    return pos[None].expand(3, -1, -1)
