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
import torch.nn.functional as F
from torch import Tensor
from transformers.models.qwen3_vl.modeling_qwen3_vl import apply_rotary_pos_emb

from .prefix_kv_cache import PrefixKVCache

RoPE = Tuple[Tensor, Tensor]


def _project_qkv(layer, hidden: Tensor, rope: RoPE) -> Tuple[Tensor, Tensor, Tensor]:
    """Norm + Q/K/V + per-head q/k norm (if the layer has one) + rotary of one expert; returns
    (B, heads, L, D) tensors. The rotary is the standard rotate-half form; ``rope`` is whatever the expert's
    rotary embedding produced (Qwen3-VL's interleaved M-RoPE, Gemma's 1-D RoPE)."""
    attn = layer.self_attn
    x = layer.input_layernorm(hidden)
    shape = (*x.shape[:-1], -1, attn.head_dim)
    q, k = attn.q_proj(x).view(shape), attn.k_proj(x).view(shape)
    if getattr(attn, 'q_norm', None) is not None:  # per-head q/k norm (Qwen3); absent in Gemma/PaliGemma
        q, k = attn.q_norm(q), attn.k_norm(k)
    q, k = q.transpose(1, 2), k.transpose(1, 2)
    v = attn.v_proj(x).view(shape).transpose(1, 2)
    q, k = apply_rotary_pos_emb(q, k, rope[0], rope[1])
    return q, k, v


def _finish(layer, hidden: Tensor, attn_out: Tensor) -> Tensor:
    """Output projection + residual + FFN of one expert (attn_out: (B, L, heads * D))."""
    hidden = hidden + layer.self_attn.o_proj(attn_out.to(hidden.dtype))
    return hidden + layer.mlp(layer.post_attention_layernorm(hidden))


def add_deepstack(hidden: Tensor, visual_pos_masks: Tensor, feats: Tensor) -> Tensor:
    """Add DeepStack features (N_vis, C) at visual positions (B, L) of hidden (B, L, C), out of place."""
    hidden = hidden.clone()
    hidden[visual_pos_masks] = hidden[visual_pos_masks] + feats.to(hidden.dtype)
    return hidden


def mot_forward(ue_layers: Optional[Sequence],
                ae_layers: Optional[Sequence],
                ue_hidden: Optional[Tensor],
                ae_hidden: Optional[Tensor],
                ue_rope: Optional[RoPE],
                ae_rope: Optional[RoPE],
                mask: Tensor,
                deepstack: Optional[List[Tensor]] = None,
                visual_pos_masks: Optional[Tensor] = None,
                cache: Optional[PrefixKVCache] = None,
                cache_mode: Optional[str] = None) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """Run the joint decoder layers.

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
    num_layers = len(ue_layers) if ue_layers is not None else len(ae_layers)
    if ae_hidden is not None and len(ae_layers) != num_layers:
        raise ValueError(f'mot_forward: {len(ae_layers)} AE layers but {num_layers} UE layers')
    n_ue_q = 0 if ue_hidden is None else ue_hidden.shape[1]
    for i in range(num_layers):
        qs, ks, vs = [], [], []
        if ue_hidden is not None:
            q, k, v = _project_qkv(ue_layers[i], ue_hidden, ue_rope)
            if cache_mode == 'write':
                cache.write(i, k, v)
            qs.append(q), ks.append(k), vs.append(v)
        elif cache_mode == 'read':
            k, v = cache.get(i)
            ks.append(k), vs.append(v)
        if ae_hidden is not None:
            q, k, v = _project_qkv(ae_layers[i], ae_hidden, ae_rope)
            qs.append(q), ks.append(k), vs.append(v)
        # experts may hold different dtypes (e.g. a bf16 UE and an fp32 AE): attend in the first one's
        dt = ks[0].dtype
        q = qs[0].to(dt) if len(qs) == 1 else torch.cat([t.to(dt) for t in qs], dim=2)
        k = ks[0] if len(ks) == 1 else torch.cat([t.to(dt) for t in ks], dim=2)
        v = vs[0] if len(vs) == 1 else torch.cat([t.to(dt) for t in vs], dim=2)
        if mask.shape[-2:] != (q.shape[2], k.shape[2]):
            raise ValueError(f'mot_forward: mask {tuple(mask.shape)} does not match {q.shape[2]} queries '
                             f'x {k.shape[2]} keys at layer {i}')
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=q.shape[-1]**-0.5, enable_gqa=q.shape[1] != k.shape[1])
        out = out.transpose(1, 2).flatten(2)  # (B, L_q, heads * D)
        if ue_hidden is not None:
            ue_hidden = _finish(ue_layers[i], ue_hidden, out[:, :n_ue_q])
            if deepstack is not None and i < len(deepstack):
                ue_hidden = add_deepstack(ue_hidden, visual_pos_masks, deepstack[i])
        if ae_hidden is not None:
            ae_hidden = _finish(ae_layers[i], ae_hidden, out[:, n_ue_q:])
    if cache_mode == 'write':
        cache.end_write()
    return ue_hidden, ae_hidden


def ae_position_ids(next_position: Tensor, num_tokens: int) -> Tensor:
    """M-RoPE position ids (3, B, L_a) of AE tokens continuing after the UE's: ``next_position + arange``."""
    pos = next_position.reshape(-1, 1) + torch.arange(num_tokens, device=next_position.device)
    return pos[None].expand(3, -1, -1)
