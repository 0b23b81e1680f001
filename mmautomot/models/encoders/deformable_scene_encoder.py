# Copyright (c) mmautomot contributors. All rights reserved.
"""Deformable scene encoder: learned scene queries over a BEV grid, pooled into one scene vector."""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS

from .deformable_attention import TorchMSDeformAttn


def _mmcv_msda_available() -> bool:
    try:
        from mmcv.ops import MultiScaleDeformableAttention  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


@MODELS.register_module()
class DeformableSceneEncoder(BaseModule):
    """BEV features -> scene tokens -> one scene vector (the SA-MoE routing signal).

    Paper: SAMoE-VLA (You et al., "SAMoE-VLA: A Scene Adaptive Mixture-of-Experts Vision-Language-Action
    Model for Autonomous Driving"): the routing signal of the scene-adaptive MoE comes from the BEV features
    through a deformable scene encoder and is computed once per sample. The paper gives no layer details;
    our reading: ``num_queries`` learned scene queries, each with a learned reference point on the BEV grid
    (``sigmoid(Linear(query_pos))``), ``num_layers`` blocks of deformable cross-attention to the BEV
    (Deformable DETR, one level) + LayerNorm + FFN + LayerNorm, then the mean over the queries and a LayerNorm
    give the scene vector.

    ``impl='mmcv'`` uses ``mmcv.ops.MultiScaleDeformableAttention`` (the compiled kernel on CUDA),
    ``impl='pytorch'`` the pure-PyTorch :class:`TorchMSDeformAttn` (same parameters, same result), ``'auto'``
    mmcv when its ops import, else PyTorch.

    Tensor contract: ``forward(bev (B, C_in, H, W) or (B, H*W, C_in) row-major with bev_shape=(H, W))
    -> scene vector (B, embed_dims)``; :meth:`scene_tokens` gives the (B, num_queries, embed_dims) tokens.

    Args:
        in_channels (int): BEV channels C_in.
        embed_dims (int): width of the scene tokens and vector. Defaults to 256.
        num_queries (int): learned scene queries. Defaults to 16.
        num_heads (int): deformable attention heads. Defaults to 8.
        num_points (int): sampling points per head. Defaults to 4.
        num_layers (int): cross-attention blocks. Defaults to 1.
        ffn_ratio (int): FFN width / embed_dims. Defaults to 2.
        bev_shape (tuple[int, int] | None): (H, W) when the BEV comes as tokens. Defaults to None.
        impl (str): 'auto', 'mmcv' or 'pytorch'. Defaults to 'auto'.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        in_channels: int,
        embed_dims: int = 256,
        num_queries: int = 16,
        num_heads: int = 8,
        num_points: int = 4,
        num_layers: int = 1,
        ffn_ratio: int = 2,
        bev_shape: Optional[Sequence[int]] = None,
        impl: str = 'auto',
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if impl not in ('auto', 'mmcv', 'pytorch'):
            raise ValueError(f"DeformableSceneEncoder: impl must be 'auto', 'mmcv' or 'pytorch', got {impl!r}")
        if impl == 'auto':
            impl = 'mmcv' if _mmcv_msda_available() else 'pytorch'
        self.impl, self.embed_dims = impl, embed_dims
        self.bev_shape = tuple(bev_shape) if bev_shape is not None else None
        self.input_proj = nn.Linear(in_channels, embed_dims)
        self.query = nn.Parameter(torch.randn(num_queries, embed_dims) * 0.02)
        self.query_pos = nn.Parameter(torch.randn(num_queries, embed_dims) * 0.02)
        self.reference = nn.Linear(embed_dims, 2)
        # spread the initial reference points over the grid (random in logit space)
        nn.init.normal_(self.reference.weight, std=1.0)
        self.attn = nn.ModuleList(self._build_attn(embed_dims, num_heads, num_points) for _ in range(num_layers))
        self.norm1 = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(num_layers))
        self.ffn = nn.ModuleList(
            nn.Sequential(
                nn.Linear(embed_dims, ffn_ratio * embed_dims), nn.GELU(), nn.Linear(ffn_ratio * embed_dims, embed_dims)
            )
            for _ in range(num_layers)
        )
        self.norm2 = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(num_layers))
        self.out_norm = nn.LayerNorm(embed_dims)
        self.row_embed = nn.Parameter(torch.randn(64, embed_dims // 2) * 0.02)
        self.col_embed = nn.Parameter(torch.randn(64, embed_dims - embed_dims // 2) * 0.02)

    def _build_attn(self, embed_dims: int, num_heads: int, num_points: int) -> nn.Module:
        if self.impl == 'pytorch':
            return TorchMSDeformAttn(embed_dims, num_heads, num_levels=1, num_points=num_points)
        from mmcv.ops import MultiScaleDeformableAttention

        attn = MultiScaleDeformableAttention(
            embed_dims=embed_dims,
            num_heads=num_heads,
            num_levels=1,
            num_points=num_points,
            dropout=0.0,
            batch_first=True,
        )
        attn.init_weights()
        return attn

    def _flatten(self, bev: Tensor) -> Tuple[Tensor, int, int]:
        if bev.dim() == 4:
            h, w = bev.shape[-2:]
            return bev.flatten(2).transpose(1, 2), h, w
        if bev.dim() == 3:
            if self.bev_shape is None:
                raise ValueError('DeformableSceneEncoder: BEV tokens (B, H*W, C) need bev_shape=(H, W)')
            h, w = self.bev_shape
            if h * w != bev.shape[1]:
                raise ValueError(f'DeformableSceneEncoder: {bev.shape[1]} BEV tokens but bev_shape {(h, w)}')
            return bev, h, w
        raise ValueError(f'DeformableSceneEncoder: BEV must be (B, C, H, W) or (B, H*W, C), got {tuple(bev.shape)}')

    def scene_tokens(self, bev: Tensor) -> Tensor:
        """(B, num_queries, embed_dims) scene tokens of the BEV."""
        tokens, h, w = self._flatten(bev)
        if h > self.row_embed.shape[0] or w > self.col_embed.shape[0]:
            raise ValueError(f'DeformableSceneEncoder: BEV grid {(h, w)} larger than the 64 x 64 position table')
        bsz = tokens.shape[0]
        pos = torch.cat([self.row_embed[:h, None].expand(h, w, -1), self.col_embed[None, :w].expand(h, w, -1)], -1)
        value = self.input_proj(tokens) + pos.reshape(1, h * w, -1).to(tokens)
        shapes = torch.tensor([[h, w]], dtype=torch.long, device=tokens.device)
        start = torch.zeros(1, dtype=torch.long, device=tokens.device)
        query = self.query[None].expand(bsz, -1, -1).to(value)
        query_pos = self.query_pos[None].expand(bsz, -1, -1).to(value)
        ref = self.reference(query_pos).sigmoid()[:, :, None]  # (B, Q, 1 level, 2)
        for attn, n1, ffn, n2 in zip(self.attn, self.norm1, self.ffn, self.norm2):
            query = n1(
                attn(
                    query=query,
                    value=value,
                    query_pos=query_pos,
                    reference_points=ref,
                    spatial_shapes=shapes,
                    level_start_index=start,
                )
            )
            query = n2(query + ffn(query))
        return query

    def forward(self, bev: Tensor) -> Tensor:
        """Scene vector (B, embed_dims): the mean of the scene tokens, layer-normed."""
        return self.out_norm(self.scene_tokens(bev).mean(dim=1))
