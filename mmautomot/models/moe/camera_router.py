# Copyright (c) mmautomot contributors. All rights reserved.
"""Camera router (vision MoE): pick the one extra camera view that matters for the scene."""

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmautomot.registry import MODELS


@MODELS.register_module()
class CameraRouter(BaseModule):
    """One learnable query cross-attending a goal token and the front view's vision tokens -> view logits.

    Paper: DriveMoE (scene-specialised vision MoE): the goal token is an MLP of the far target point in
    the ego frame; the query attends (``num_heads`` heads) over ``[goal token, front tokens]``; then
    LayerNorm -> MLP -> one logit per candidate view (FL, FR, BACK, BL, BR). In training the view is picked
    by a hard Gumbel-softmax (straight-through, ``tau`` 1); at inference by argmax, so that only the chosen
    view has to go through the vision encoder.

    Tensor contract: ``forward(front_tokens (B, N, C), goal (B, 2)) -> logits (B, V)``;
    ``select(logits) -> (weights (B, V) one-hot (straight-through in training), index (B,) long)``.

    Args:
        embed_dims (int): C (the vision tokens' width).
        num_views (int): V candidate views. Defaults to 5.
        num_heads (int): attention heads. Defaults to 8.
        goal_hidden (int): hidden width of the goal MLP. Defaults to 128.
        goal_scale (float): metres divided out of the goal point. Defaults to 1.0 (the released code feeds
            raw metres).
        dropout (float): dropout in the output MLP. Defaults to 0.1.
        tau (float): Gumbel-softmax temperature. Defaults to 1.0.
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(
        self,
        embed_dims: int,
        num_views: int = 5,
        num_heads: int = 8,
        goal_hidden: int = 128,
        goal_scale: float = 1.0,
        dropout: float = 0.1,
        tau: float = 1.0,
        init_cfg: Optional[dict] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'CameraRouter: embed_dims={embed_dims} is not a multiple of num_heads={num_heads}')
        self.num_views, self.tau, self.goal_scale = num_views, float(tau), float(goal_scale)
        self.goal_mlp = nn.Sequential(nn.Linear(2, goal_hidden), nn.ReLU(), nn.Linear(goal_hidden, embed_dims))
        self.query = nn.Parameter(torch.randn(1, 1, embed_dims) * 0.02)
        self.cross_attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(embed_dims)
        hidden = max(embed_dims // 2, 1)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_views)
        )

    def forward(self, front_tokens: Tensor, goal: Tensor) -> Tensor:
        """View logits (B, V) from front-view tokens (B, N, C) and the goal point (B, 2), ego frame, m."""
        if goal.shape != (front_tokens.shape[0], 2):
            raise ValueError(
                f'CameraRouter: goal must be (B, 2) = ({front_tokens.shape[0]}, 2), got {tuple(goal.shape)}'
            )
        dtype = self.query.dtype
        goal_tok = self.goal_mlp((goal / self.goal_scale).to(dtype))[:, None]
        kv = torch.cat([goal_tok, front_tokens.to(dtype)], dim=1)
        out, _ = self.cross_attn(self.query.expand(kv.shape[0], -1, -1), kv, kv, need_weights=False)
        return self.mlp(self.norm(out[:, 0]))

    def select(self, logits: Tensor, hard_gumbel: Optional[bool] = None) -> Tuple[Tensor, Tensor]:
        """Pick one view per sample.

        Args:
            logits (Tensor): (B, V).
            hard_gumbel (bool | None): hard Gumbel-softmax (straight-through one-hot whose gradient flows
                into ``logits``); None = ``self.training``. Otherwise argmax (a constant one-hot).

        Returns:
            tuple[Tensor, Tensor]: weights (B, V), chosen index (B,) long.
        """
        hard_gumbel = self.training if hard_gumbel is None else hard_gumbel
        if hard_gumbel:
            w = F.gumbel_softmax(logits.float(), tau=self.tau, hard=True)
            return w, w.argmax(dim=-1)
        idx = logits.argmax(dim=-1)
        return F.one_hot(idx, self.num_views).to(logits.dtype), idx
