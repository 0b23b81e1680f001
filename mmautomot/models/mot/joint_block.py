# Copyright (c) mmautomot contributors. All rights reserved.
"""One depth of the mixture-of-transformers: UE layer i and AE layer i, one step of the layer loop.

:class:`JointLayer` is what :func:`mmautomot.models.mot.joint_layers.mot_forward` iterates. It is also the
unit of distributed training: FSDP wraps one unit per joint layer
(:func:`mmautomot.models.mot.fsdp.mot_auto_wrap_policy`) and activation checkpointing recomputes one joint
layer at a time (``with_cp``). Its ``forward`` must therefore be the call that runs the layer (FSDP gathers a
unit's parameters in the unit's forward pre-hook).

The expert layers stay the modules that own them: the UE layer is transformers' own decoder layer (still in
``Qwen3VLForConditionalGeneration``'s ``layers``, so transformers' forward and ``generate`` keep working and the
Qwen3-VL weight names do not change) and the AE layer stays in ``MoTTransformer.ae_layers``. A joint layer
only *also* registers them as its children ``ue`` / ``ae`` (shared modules), which makes each depth one
subtree for FSDP and for checkpointing; :class:`MoTTransformer` keeps its state-dict keys as before (see
:mod:`mmautomot.models.mot.mot_transformer`).

An expert layer may define ``mot_qkv(hidden, rope) -> (q, k, v)`` and ``mot_finish(hidden, attn_out)`` to
replace the default steps below (e.g. an AE whose attention is zero-padded into the UE's head geometry);
the default follows transformers' Qwen3-VL attribute names.
"""

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint
from transformers.models.qwen3_vl.modeling_qwen3_vl import apply_rotary_pos_emb

from .prefix_kv_cache import PrefixKVCache

RoPE = Tuple[Tensor, Tensor]


def project_qkv(layer: nn.Module, hidden: Tensor, rope: RoPE) -> Tuple[Tensor, Tensor, Tensor]:
    """Norm + Q/K/V + per-head q/k norm (if the layer has one) + rotary of one expert; returns (B, heads, L, D)
    tensors. The rotary is the rotate-half form on whatever the expert's rotary embedding produced (Qwen3-VL's
    interleaved M-RoPE, Gemma's 1-D RoPE)."""
    if hasattr(layer, 'mot_qkv'):
        return layer.mot_qkv(hidden, rope)
    attn = layer.self_attn
    x = layer.input_layernorm(hidden)
    shape = (*x.shape[:-1], -1, attn.head_dim)
    q, k = attn.q_proj(x).view(shape), attn.k_proj(x).view(shape)
    if getattr(attn, 'q_norm', None) is not None:  # per-head q/k norm (Qwen3); absent in Gemma / PaliGemma
        q, k = attn.q_norm(q), attn.k_norm(k)
    q, k = q.transpose(1, 2), k.transpose(1, 2)
    v = attn.v_proj(x).view(shape).transpose(1, 2)
    q, k = apply_rotary_pos_emb(q, k, rope[0], rope[1])
    return q, k, v


def finish(layer: nn.Module, hidden: Tensor, attn_out: Tensor) -> Tensor:
    """Output projection + residual + FFN of one expert (attn_out: (B, L, heads * D))."""
    if hasattr(layer, 'mot_finish'):
        return layer.mot_finish(hidden, attn_out)
    hidden = hidden + layer.self_attn.o_proj(attn_out.to(hidden.dtype))
    return hidden + layer.mlp(layer.post_attention_layernorm(hidden))


def add_deepstack(hidden: Tensor, visual_pos_masks: Tensor, feats: Tensor) -> Tensor:
    """Add DeepStack features (N_vis, C) at visual positions (B, L) of hidden (B, L, C), out of place."""
    hidden = hidden.clone()
    hidden[visual_pos_masks] = hidden[visual_pos_masks] + feats.to(hidden.dtype)
    return hidden


class JointLayer(nn.Module):
    """Layer ``layer_idx`` of both experts, run as one joint-attention step.

    Paper: AutoMoT (layer-wise joint attention). Each present expert applies its input norm, Q/K/V and
    per-head q/k norms and the rotary embedding; queries, keys and values are concatenated along the sequence
    (UE first) and attended in ONE ``scaled_dot_product_attention`` call under ``mask``; the output is split
    back and each expert applies its output projection, residual and SwiGLU FFN. In an AE tick the UE keys /
    values come from a :class:`PrefixKVCache` (read-only); in a UE refresh they are written into it.

    ``mask`` must be a task mask (:func:`mmautomot.models.mot.task_mask.build_task_mask`): UE rows never see
    AE keys. With a frozen UE (no trainable UE parameter, UE input without gradient) the UE rows of the
    attention output are therefore detached: same values and gradients, but no UE activations are kept for
    the backward pass of a joint training step.

    Args:
        ue (nn.Module | None): UE decoder layer (transformers ``Qwen3VLTextDecoderLayer``); None for an AE-only
            stack.
        ae (nn.Module | None): AE layer (:class:`ActionExpertLayer`); None for a UE-only stack.
        layer_idx (int): depth i (cache slot, error messages).
        with_cp (bool): recompute this layer in the backward pass (activation checkpointing) when gradients
            are enabled and no cache is written. Defaults to False.
    """

    def __init__(self, ue: Optional[nn.Module], ae: Optional[nn.Module], layer_idx: int, with_cp: bool = False):
        super().__init__()
        if ue is None and ae is None:
            raise ValueError(f'JointLayer {layer_idx}: needs a UE layer, an AE layer or both')
        self.ue = ue
        self.ae = ae
        self.layer_idx = layer_idx
        self.with_cp = with_cp

    def forward(
        self,
        ue_hidden: Optional[Tensor],
        ae_hidden: Optional[Tensor],
        ue_rope: Optional[RoPE],
        ae_rope: Optional[RoPE],
        mask: Tensor,
        deepstack: Optional[Tensor] = None,
        visual_pos_masks: Optional[Tensor] = None,
        cache: Optional[PrefixKVCache] = None,
        cache_mode: Optional[str] = None,
    ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """One joint step.

        Args:
            ue_hidden (Tensor | None): (B, L_u, C_u) UE hidden states; None in an AE tick.
            ae_hidden (Tensor | None): (B, L_a, C_a) AE hidden states; None in a UE-only pass.
            ue_rope / ae_rope (tuple[Tensor, Tensor] | None): (cos, sin), each (B, L, head_dim).
            mask (Tensor): (B, 1, L_q, L_k) bool, True = attend (UE then AE queries / keys).
            deepstack (Tensor | None): (N_vis, C_u) DeepStack feature added to the UE after this layer.
            visual_pos_masks (Tensor | None): (B, L_u) bool image positions.
            cache (PrefixKVCache | None): the prefix cache; cache_mode (str | None): 'write', 'read' or None.

        Returns:
            tuple: (UE hidden (B, L_u, C_u) or None, AE hidden (B, L_a, C_a) or None).
        """
        args = (ue_hidden, ae_hidden, ue_rope, ae_rope, mask, deepstack, visual_pos_masks, cache, cache_mode)
        if self.with_cp and cache_mode is None and torch.is_grad_enabled():
            return checkpoint(self._step, *args, use_reentrant=False)
        return self._step(*args)

    def _step(self, ue_hidden, ae_hidden, ue_rope, ae_rope, mask, deepstack, visual_pos_masks, cache, cache_mode):
        i = self.layer_idx
        qs, ks, vs = [], [], []
        if ue_hidden is not None:
            q, k, v = project_qkv(self.ue, ue_hidden, ue_rope)
            if cache_mode == 'write':
                cache.write(i, k, v)
            qs.append(q), ks.append(k), vs.append(v)
        elif cache_mode == 'read':
            k, v = cache.get(i)
            ks.append(k), vs.append(v)
        if ae_hidden is not None:
            q, k, v = project_qkv(self.ae, ae_hidden, ae_rope)
            qs.append(q), ks.append(k), vs.append(v)
        # experts may hold different dtypes (e.g. a bf16 UE and an fp32 AE): attend in the first one's
        dt = ks[0].dtype
        q = qs[0].to(dt) if len(qs) == 1 else torch.cat([t.to(dt) for t in qs], dim=2)
        k = ks[0] if len(ks) == 1 else torch.cat([t.to(dt) for t in ks], dim=2)
        v = vs[0] if len(vs) == 1 else torch.cat([t.to(dt) for t in vs], dim=2)
        if mask.shape[-2:] != (q.shape[2], k.shape[2]):
            raise ValueError(
                f'mot_forward: mask {tuple(mask.shape)} does not match {q.shape[2]} queries '
                f'x {k.shape[2]} keys at layer {i}'
            )
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=q.shape[-1] ** -0.5, enable_gqa=q.shape[1] != k.shape[1]
        )
        out = out.transpose(1, 2).flatten(2)  # (B, L_q, heads * D)
        n_ue_q = 0 if ue_hidden is None else ue_hidden.shape[1]
        if ue_hidden is not None:
            ue_out = out[:, :n_ue_q]
            if not ue_hidden.requires_grad and not self._ue_trainable():
                # Frozen UE: under the task mask its rows never see AE keys, so their values do not depend on
                # the AE and no gradient reaches anything trainable through them. Cutting them from the graph
                # keeps no UE activations for the backward pass (the AE rows still read the UE keys / values).
                ue_out = ue_out.detach()
            ue_hidden = finish(self.ue, ue_hidden, ue_out)
            if deepstack is not None:
                ue_hidden = add_deepstack(ue_hidden, visual_pos_masks, deepstack)
        if ae_hidden is not None:
            ae_hidden = finish(self.ae, ae_hidden, out[:, n_ue_q:])
        return ue_hidden, ae_hidden

    def _ue_trainable(self) -> bool:
        """Whether a UE parameter trains; True when none is visible (e.g. flattened by FSDP with
        ``use_orig_params=False``), so the UE rows are only cut when that is known to be exact."""
        params = list(self.ue.parameters())
        return not params or any(p.requires_grad for p in params)

    def extra_repr(self) -> str:
        return f'layer_idx={self.layer_idx}, with_cp={self.with_cp}'
