# Copyright (c) mmautomot contributors. All rights reserved.
"""One layer of the action expert (AE) of a mixture-of-transformers model."""

from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRMSNorm

from mmautomot.registry import MODELS


class _Attention(nn.Module):
    """Q/K/V/O projections with per-head q/k RMSNorm (names as in transformers' Qwen3-VL)."""

    def __init__(self, hidden_size: int, num_heads: int, num_kv_heads: int, head_dim: int, eps: float, bias: bool):
        super().__init__()
        self.q_proj = nn.Linear(hidden_size, num_heads * head_dim, bias=bias)
        self.k_proj = nn.Linear(hidden_size, num_kv_heads * head_dim, bias=bias)
        self.v_proj = nn.Linear(hidden_size, num_kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(num_heads * head_dim, hidden_size, bias=bias)
        self.q_norm = Qwen3VLTextRMSNorm(head_dim, eps=eps)
        self.k_norm = Qwen3VLTextRMSNorm(head_dim, eps=eps)
        self.head_dim = head_dim


class _SwiGLU(nn.Module):
    """SwiGLU feed-forward: ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


@MODELS.register_module()
class ActionExpertLayer(nn.Module):
    """A decoder layer of the action expert, joinable with a Qwen3-VL text layer.

    Paper: AutoMoT (mixture of transformers; each expert keeps its own norms, projections and FFN while
    the attention is computed jointly). The attention head geometry (``num_heads``, ``num_kv_heads``,
    ``head_dim``) must equal the understanding expert's so both experts' Q/K/V can be concatenated; the
    width (``hidden_size``) and FFN width may differ. Attribute names mirror transformers'
    ``Qwen3VLTextDecoderLayer`` (``input_layernorm``, ``self_attn.{q,k,v,o}_proj``, ``self_attn.{q,k}_norm``,
    ``post_attention_layernorm``, ``mlp.{gate,up,down}_proj``) so that
    :func:`mmautomot.models.mot.joint_layers.mot_forward` treats both experts the same way.

    Args:
        hidden_size (int): AE width C_a.
        intermediate_size (int): SwiGLU FFN width.
        num_heads (int): query heads (UE's). Defaults to 32.
        num_kv_heads (int): key/value heads (UE's). Defaults to 8.
        head_dim (int): head size (UE's). Defaults to 128.
        rms_norm_eps (float): RMSNorm epsilon. Defaults to 1e-6.
        attention_bias (bool): bias in Q/K/V/O. Defaults to False.
        mlp (dict | None): a registered FFN module replacing the dense SwiGLU (e.g.
            ``dict(type='MoEFFN', ...)``); ``hidden_size`` and ``intermediate_size`` are filled in unless
            given. Its ``forward`` maps the post-attention-normed (B, L, C_a) states to (B, L, C_a).
            Defaults to None (SwiGLU).
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        num_heads: int = 32,
        num_kv_heads: int = 8,
        head_dim: int = 128,
        rms_norm_eps: float = 1e-6,
        attention_bias: bool = False,
        mlp: Optional[dict] = None,
    ):
        super().__init__()
        if num_heads % num_kv_heads:
            raise ValueError(
                f'ActionExpertLayer: num_heads={num_heads} is not a multiple of num_kv_heads={num_kv_heads}'
            )
        self.hidden_size = hidden_size
        self.input_layernorm = Qwen3VLTextRMSNorm(hidden_size, eps=rms_norm_eps)
        self.self_attn = _Attention(hidden_size, num_heads, num_kv_heads, head_dim, rms_norm_eps, attention_bias)
        self.post_attention_layernorm = Qwen3VLTextRMSNorm(hidden_size, eps=rms_norm_eps)
        if mlp is None:
            self.mlp = _SwiGLU(hidden_size, intermediate_size)
        else:
            mlp = dict(mlp)
            mlp.setdefault('hidden_size', hidden_size)
            mlp.setdefault('intermediate_size', intermediate_size)
            self.mlp = MODELS.build(mlp)
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        """Normal(0, std) linear weights, zero biases (as transformers initialises Qwen3-VL)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
