# Copyright (c) mmautomot contributors. All rights reserved.
"""Mixture-of-Attention (MoA) DiT block: adaLN-Zero self-attention, gated multi-source cross-attention, MLP."""

from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """DiT's adaLN modulation ``x * (1 + scale) + shift``; ``x`` (B, T, D), ``shift``/``scale`` (B, D)."""
    return x * (1 + scale[:, None]) + shift[:, None]


@MODELS.register_module()
class MoABlock(BaseModule):
    """A DiT block whose cross-attention is a learned mixture over several condition sources.

    DiT (Peebles & Xie, "Scalable Diffusion Models with Transformers", 2023) block with adaLN-Zero
    conditioning, extended with one cross-attention per condition source ("Mixture-of-Attention", AutoMoT+
    action refiner; the authors' refiner is not released, this is our reading of it)::

        h = x + g1 * SelfAttn(mod(LN(x), c))
        q = mod(LN(h), c)
        h = h + g2 * sum_s w_s(q) * CrossAttn_s(q, cond_s)      w(q) = softmax(W q + b)  over sources
        h = h + g3 * MLP(mod(LN(h), c))

    ``c`` is the conditioning vector (the diffusion timestep embedding); ``mod``/``g*`` are the shift, scale and
    gate regressed from ``c`` by a zero-initialised linear layer, so every block is the identity at
    initialisation (adaLN-Zero). The per-source gate ``w`` is computed per trajectory token from its query
    (zero-initialised: a uniform mixture at first, learned bias ``b`` per source); each source has its own
    key/value/output projections. Sources are given already projected to the block width.

    Args:
        hidden_size (int): token width D.
        num_heads (int): attention heads (self- and cross-attention). D must be divisible by it.
        source_names (Sequence[str]): names of the condition sources, in gate order.
        mlp_ratio (float): MLP hidden width / D. Defaults to 4.
        dropout (float): attention dropout. Defaults to 0.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        source_names: Sequence[str],
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        init_cfg=None,
    ):
        super().__init__(init_cfg=init_cfg)
        if hidden_size % num_heads:
            raise ValueError(f'MoABlock: hidden_size {hidden_size} is not divisible by num_heads {num_heads}')
        if len(source_names) == 0:
            raise ValueError('MoABlock: at least one condition source is required')
        self.source_names = list(source_names)
        d = hidden_size
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.self_attn = nn.MultiheadAttention(d, num_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.cross_attn = nn.ModuleDict(
            {name: nn.MultiheadAttention(d, num_heads, dropout=dropout, batch_first=True) for name in self.source_names}
        )
        self.gate = nn.Linear(d, len(self.source_names))
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate='tanh'), nn.Linear(hidden, d))
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(d, 9 * d))
        nn.init.zeros_(self.adaln[1].weight)
        nn.init.zeros_(self.adaln[1].bias)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def init_weights(self) -> None:
        """Keep the adaLN-Zero and gate initialisation (mmengine's default init would not touch them, but a
        user ``init_cfg`` could): re-zero them after any ``init_cfg``."""
        super().init_weights()
        for lin in (self.adaln[1], self.gate):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def source_weights(self, query: Tensor) -> Tensor:
        """(B, T, S) softmax mixture weights of the sources for each trajectory token."""
        return self.gate(query).softmax(dim=-1)

    def forward(self, x: Tensor, c: Tensor, cond: Dict[str, Tensor]) -> Tensor:
        """Apply the block.

        Args:
            x (Tensor): (B, T, D) trajectory tokens.
            c (Tensor): (B, D) conditioning vector (timestep embedding).
            cond (dict[str, Tensor]): per source (B, L_s, D) condition tokens; must hold every name of
                ``source_names``.

        Returns:
            Tensor: (B, T, D).
        """
        sh1, sc1, g1, sh2, sc2, g2, sh3, sc3, g3 = self.adaln(c).chunk(9, dim=-1)
        h = modulate(self.norm1(x), sh1, sc1)
        x = x + g1[:, None] * self.self_attn(h, h, h, need_weights=False)[0]
        q = modulate(self.norm2(x), sh2, sc2)
        outs = torch.stack(
            [self.cross_attn[n](q, cond[n], cond[n], need_weights=False)[0] for n in self.source_names], dim=-1
        )  # (B, T, D, S)
        mixed = (outs * self.source_weights(q)[:, :, None]).sum(-1)
        x = x + g2[:, None] * mixed
        return x + g3[:, None] * self.mlp(modulate(self.norm3(x), sh3, sc3))
