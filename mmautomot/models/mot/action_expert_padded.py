# Copyright (c) mmautomot contributors. All rights reserved.
"""The released AutoMoT action-expert layer: narrow heads zero-padded into the UE's head slots."""

from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRMSNorm, apply_rotary_pos_emb

from mmautomot.registry import MODELS

from .action_expert_layer import _Attention, _SwiGLU


@MODELS.register_module()
class PaddedActionExpertLayer(nn.Module):
    """A decoder layer of the action expert in the layout of the released AutoMoT code.

    Paper: AutoMoT (released code, ``Qwen3VLMoTDecoderLayer`` / ``PackedAttentionMoT``: Bagel-style twins of
    every UE decoder layer). The AE keeps the UE's residual width and has its own attention of
    ``num_heads`` query heads / ``num_kv_heads`` KV heads of size ``head_dim`` (released: 16 / 4 / 80 =
    2560 / 32) and its own SwiGLU MLP (released: 4864). To share one attention call with the UE, its
    Q/K/V are zero-padded into the UE's ``ue_num_heads x ue_head_dim`` slots (released: 32 x 128):

    * q_norm / k_norm act over the ``head_dim`` dims; one ``ue_head_dim``-d (M-)RoPE is applied to the
      padded q and k (so dims ``head_dim..ue_head_dim`` of q and k become non-zero);
    * the AE keys are then cut back to ``head_dim`` dims (``K[:, :, head_dim:] = 0``; the released training
      path keeps ``[:head_dim]`` in its GQA expansion, the cached inference path zeroes them: same result);
      AE queries keep all ``ue_head_dim`` dims; the attention scale is ``1 / sqrt(ue_head_dim)``;
    * AE query head ``h`` reads KV head ``h // (ue_num_heads // ue_num_kv_heads)`` of both experts
      (released: ``h // 4``; this equals the AE's own GQA grouping ``num_heads // num_kv_heads``);
    * the AE values and the AE ``o_proj`` use dims ``[:head_dim]`` of heads ``[:num_heads]``.

    Attribute names mirror transformers' ``Qwen3VLTextDecoderLayer`` (``input_layernorm``,
    ``self_attn.{q,k,v,o}_proj``, ``self_attn.{q,k}_norm``, ``post_attention_layernorm``,
    ``mlp.{gate,up,down}_proj``); :func:`mmautomot.models.mot.joint_layers.mot_forward` calls the hooks
    :meth:`mot_qkv` and :meth:`mot_finish` instead of its default per-expert steps.

    Tensor contract: :meth:`mot_qkv` maps (B, L, C) hidden states to q (B, ue_num_heads, L, ue_head_dim)
    and k, v (B, ue_num_kv_heads, L, ue_head_dim); :meth:`mot_finish` maps the attention output
    (B, L, ue_num_heads * ue_head_dim) and the (B, L, C) residual to the layer output (B, L, C).

    Args:
        hidden_size (int): residual width C (must equal the UE's hidden size; released 2560).
        intermediate_size (int): SwiGLU width (released 4864).
        num_heads (int): AE query heads (released 16).
        num_kv_heads (int): AE KV heads (released 4).
        head_dim (int): AE head size (released 80 = hidden_size // ue_num_heads).
        ue_num_heads (int): UE query heads (padded slot count). Defaults to 32.
        ue_num_kv_heads (int): UE KV heads. Defaults to 8.
        ue_head_dim (int): UE head size (padded slot size). Defaults to 128.
        rms_norm_eps (float): RMSNorm epsilon. Defaults to 1e-6.
        attention_bias (bool): bias in Q/K/V/O (the released layers have none). Defaults to False.
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        num_heads: int = 16,
        num_kv_heads: int = 4,
        head_dim: int = 80,
        ue_num_heads: int = 32,
        ue_num_kv_heads: int = 8,
        ue_head_dim: int = 128,
        rms_norm_eps: float = 1e-6,
        attention_bias: bool = False,
    ):
        super().__init__()
        if num_heads > ue_num_heads or num_kv_heads > ue_num_kv_heads or head_dim > ue_head_dim:
            raise ValueError(
                f'PaddedActionExpertLayer: AE heads {num_heads}/{num_kv_heads}x{head_dim} do not fit '
                f'into the UE slots {ue_num_heads}/{ue_num_kv_heads}x{ue_head_dim}'
            )
        if num_heads % num_kv_heads or ue_num_heads % ue_num_kv_heads:
            raise ValueError('PaddedActionExpertLayer: query heads must be multiples of the KV heads')
        if num_heads // num_kv_heads != ue_num_heads // ue_num_kv_heads:
            raise ValueError(
                f'PaddedActionExpertLayer: the AE GQA group {num_heads // num_kv_heads} must equal the '
                f"UE's {ue_num_heads // ue_num_kv_heads} (query head h reads KV head h // group in "
                'both experts)'
            )
        self.hidden_size = hidden_size
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.ue_num_heads, self.ue_num_kv_heads, self.ue_head_dim = ue_num_heads, ue_num_kv_heads, ue_head_dim
        self.input_layernorm = Qwen3VLTextRMSNorm(hidden_size, eps=rms_norm_eps)
        self.self_attn = _Attention(hidden_size, num_heads, num_kv_heads, head_dim, rms_norm_eps, attention_bias)
        self.post_attention_layernorm = Qwen3VLTextRMSNorm(hidden_size, eps=rms_norm_eps)
        self.mlp = _SwiGLU(hidden_size, intermediate_size)
        self.reset_parameters()

    @classmethod
    def from_ue_geometry(cls, geometry: dict, **kwargs) -> 'PaddedActionExpertLayer':
        """Build with the UE's slots; ``hidden_size`` defaults to the UE's and ``head_dim`` to
        ``hidden_size // ue_num_heads`` (the released rule)."""
        hidden = kwargs.pop('hidden_size', geometry['hidden_size'])
        if hidden != geometry['hidden_size']:
            raise ValueError(
                f"PaddedActionExpertLayer: hidden_size={hidden} must equal the UE's "
                f"{geometry['hidden_size']} (the released layout keeps the UE's residual width)"
            )
        kwargs.setdefault('head_dim', hidden // geometry['num_heads'])
        kwargs.setdefault('rms_norm_eps', geometry['rms_norm_eps'])
        return cls(
            hidden,
            ue_num_heads=geometry['num_heads'],
            ue_num_kv_heads=geometry['num_kv_heads'],
            ue_head_dim=geometry['head_dim'],
            **kwargs,
        )

    def reset_parameters(self, std: float = 0.02) -> None:
        """Normal(0, std) linear weights, zero biases (as transformers initialises Qwen3-VL)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _pad(self, t: Tensor, slots: int) -> Tensor:
        """(B, L, h, d) -> (B, slots, L, ue_head_dim), zeros in the extra heads and dims."""
        return F.pad(t, (0, self.ue_head_dim - t.shape[-1], 0, slots - t.shape[-2])).transpose(1, 2)

    def mot_qkv(self, hidden: Tensor, rope: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Norm + Q/K/V + q/k norm over ``head_dim``, zero-pad, ``ue_head_dim``-d rotary, cut the keys.

        Args:
            hidden (Tensor): (B, L, C).
            rope (tuple[Tensor, Tensor]): (cos, sin), each (B, L, ue_head_dim).

        Returns:
            tuple[Tensor, Tensor, Tensor]: q (B, ue_num_heads, L, ue_head_dim), k and v
            (B, ue_num_kv_heads, L, ue_head_dim).
        """
        attn = self.self_attn
        x = self.input_layernorm(hidden)
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = self._pad(attn.q_norm(attn.q_proj(x).view(shape)), self.ue_num_heads)
        k = self._pad(attn.k_norm(attn.k_proj(x).view(shape)), self.ue_num_kv_heads)
        v = self._pad(attn.v_proj(x).view(shape), self.ue_num_kv_heads)
        q, k = apply_rotary_pos_emb(q, k, rope[0], rope[1])
        k = F.pad(k[..., : self.head_dim], (0, self.ue_head_dim - self.head_dim))  # keys keep [:head_dim] only
        return q, k, v

    def mot_finish(self, hidden: Tensor, attn_out: Tensor) -> Tensor:
        """``o_proj`` over dims ``[:head_dim]`` of heads ``[:num_heads]`` + residual + SwiGLU FFN.

        Args:
            hidden (Tensor): (B, L, C) layer input (residual).
            attn_out (Tensor): (B, L, ue_num_heads * ue_head_dim) joint attention output of the AE rows.

        Returns:
            Tensor: (B, L, C).
        """
        out = attn_out.unflatten(-1, (self.ue_num_heads, self.ue_head_dim))[..., : self.num_heads, : self.head_dim]
        hidden = hidden + self.self_attn.o_proj(out.flatten(-2).to(hidden.dtype))
        return hidden + self.mlp(self.post_attention_layernorm(hidden))
