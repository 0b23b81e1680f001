# Copyright (c) mmautomot contributors. All rights reserved.
"""Multi-scale deformable attention in pure PyTorch (the CPU / no-compiled-ops fallback).

Paper: Deformable DETR (Zhu et al., "Deformable DETR: Deformable Transformers for End-to-End Object
Detection"). Each query predicts, per head, level and point, a sampling offset around its reference point
and an attention weight (softmax over levels x points); the values are sampled bilinearly (zero padding,
``align_corners=False``) and summed with those weights.

:class:`TorchMSDeformAttn` has the parameter names, shapes, initialisation and forward arguments of
``mmcv.ops.MultiScaleDeformableAttention`` (batch first), so the state dicts are interchangeable and the two
give the same result (``tests/test_models/test_encoders/test_deformable_scene_encoder.py``).
"""

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def ms_deform_attn_torch(
    value: Tensor, spatial_shapes: Tensor, sampling_locations: Tensor, attention_weights: Tensor
) -> Tensor:
    """Deformable attention core.

    Args:
        value (Tensor): (B, N_v, heads, D_h), the levels flattened row-major one after another.
        spatial_shapes (Tensor): (levels, 2) long, (H_l, W_l) of each level.
        sampling_locations (Tensor): (B, N_q, heads, levels, points, 2), (x, y) normalised to [0, 1].
        attention_weights (Tensor): (B, N_q, heads, levels, points), summing to 1 per query and head.

    Returns:
        Tensor: (B, N_q, heads * D_h).
    """
    bsz, _, heads, dim = value.shape
    _, n_q, _, levels, points, _ = sampling_locations.shape
    sizes = [int(h) * int(w) for h, w in spatial_shapes.tolist()]
    if sum(sizes) != value.shape[1]:
        raise ValueError(
            f'ms_deform_attn_torch: value has {value.shape[1]} positions, spatial_shapes '
            f'{spatial_shapes.tolist()} give {sum(sizes)}'
        )
    grids = 2.0 * sampling_locations - 1.0  # grid_sample's [-1, 1] frame
    sampled = []
    for lvl, v in enumerate(value.split(sizes, dim=1)):
        h, w = (int(s) for s in spatial_shapes[lvl])
        v = v.permute(0, 2, 3, 1).reshape(bsz * heads, dim, h, w)
        g = grids[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(bsz * heads, n_q, points, 2)
        sampled.append(F.grid_sample(v, g, mode='bilinear', padding_mode='zeros', align_corners=False))
    # (B*heads, D_h, N_q, levels, points) weighted by (B*heads, 1, N_q, levels, points)
    stack = torch.stack(sampled, dim=3)
    w = attention_weights.permute(0, 2, 1, 3, 4).reshape(bsz * heads, 1, n_q, levels, points)
    out = (stack * w).sum(dim=(-1, -2))  # (B*heads, D_h, N_q)
    return out.view(bsz, heads * dim, n_q).transpose(1, 2).contiguous()


class TorchMSDeformAttn(nn.Module):
    """Pure-PyTorch twin of ``mmcv.ops.MultiScaleDeformableAttention`` (batch first, no dropout).

    Tensor contract: ``forward(query (B, N_q, C), value (B, N_v, C), query_pos (B, N_q, C) | None,
    reference_points (B, N_q, levels, 2) in [0, 1], spatial_shapes (levels, 2), level_start_index (levels,),
    identity (B, N_q, C) | None) -> (B, N_q, C)`` = ``output_proj(core) + identity`` (identity defaults to
    the query before ``query_pos`` is added, as in mmcv).

    Args:
        embed_dims (int): C.
        num_heads (int): attention heads. Defaults to 8.
        num_levels (int): feature levels. Defaults to 1.
        num_points (int): sampling points per head and level. Defaults to 4.
    """

    def __init__(self, embed_dims: int, num_heads: int = 8, num_levels: int = 1, num_points: int = 4):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'TorchMSDeformAttn: embed_dims={embed_dims} not divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_points = num_levels, num_points
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.init_weights()

    def init_weights(self) -> None:
        """Deformable DETR's initialisation (as mmcv): offsets on a ring of directions, one per head, point
        ``i`` at distance ``i + 1``; uniform attention; Xavier-uniform value/output projections."""
        nn.init.zeros_(self.sampling_offsets.weight)
        theta = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.num_heads, 1, 1, 2)
        grid = grid.repeat(1, self.num_levels, self.num_points, 1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(
        self,
        query: Tensor,
        value: Tensor,
        query_pos: Optional[Tensor] = None,
        reference_points: Tensor = None,
        spatial_shapes: Tensor = None,
        level_start_index: Optional[Tensor] = None,
        identity: Optional[Tensor] = None,
    ) -> Tensor:
        if identity is None:
            identity = query
        if query_pos is not None:
            query = query + query_pos
        bsz, n_q, _ = query.shape
        v = self.value_proj(value).view(bsz, value.shape[1], self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(bsz, n_q, self.num_heads, self.num_levels, self.num_points, 2)
        weights = self.attention_weights(query).view(bsz, n_q, self.num_heads, self.num_levels * self.num_points)
        weights = weights.softmax(-1).view(bsz, n_q, self.num_heads, self.num_levels, self.num_points)
        if reference_points.shape[-1] != 2:
            raise ValueError(
                f'TorchMSDeformAttn: reference_points must end in (x, y), got {tuple(reference_points.shape)}'
            )
        normaliser = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1).to(offsets)
        loc = reference_points[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
        out = ms_deform_attn_torch(v, spatial_shapes, loc, weights)
        return self.output_proj(out) + identity
