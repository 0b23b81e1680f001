# Copyright (c) mmautomot contributors. All rights reserved.
"""Meta-action head of the AutoMoT action expert."""

from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmautomot.registry import MODELS
from mmautomot.structures.meta_actions import LATERAL_CLASSES, LONGITUDINAL_CLASSES


@MODELS.register_module()
class MetaActionHead(BaseModule):
    """Classify a (lateral, longitudinal) meta-action per horizon from the decision query tokens.

    AutoMoT (Huang et al., "AutoMoT: A Unified Vision-Language-Action Model with Asynchronous
    Mixture-of-Transformers for End-to-End Autonomous Driving") predicts meta-actions such as
    ``[Slight right, Keep]`` for 1 s / 2 s / 3 s from the action expert's decision tokens.

    Pooling: the ``K_q`` decision tokens (AutoMoT: 8) are pooled to ``K`` horizons (3) by **attention
    pooling**: ``K`` learned horizon queries attend (multi-head attention, ``pool_heads`` heads) over the
    ``K_q`` tokens, so every horizon reads all decision tokens with its own content-dependent weights.
    Each pooled vector goes through LayerNorm and a 2-layer MLP to ``n_lat + n_lon`` logits; the first
    ``n_lat`` are the lateral classes (:data:`LATERAL_CLASSES`), the rest the longitudinal ones
    (:data:`LONGITUDINAL_CLASSES`).

    Args:
        in_channels (int): width C of the decision tokens.
        num_horizons (int): K, number of horizons. Defaults to 3 (1 s / 2 s / 3 s).
        hidden_channels (int, optional): MLP hidden width. Defaults to ``in_channels``.
        pool_heads (int): heads of the attention pooling; must divide ``in_channels``. Defaults to 1.
        loss_lat (dict): config of the lateral classification loss, called as
            ``loss(logits (N, n_lat), labels (N,), ignore_index=-1)``. Defaults to mmdet's
            ``CrossEntropyLoss`` (``avg_non_ignore=True``, ``loss_weight=1.0``); ``class_weight`` may be set
            here.
        loss_lon (dict): same for the longitudinal classes.
        init_cfg (dict, optional): mmengine init config.
    """

    num_lat = len(LATERAL_CLASSES)
    num_lon = len(LONGITUDINAL_CLASSES)
    ignore_index = -1

    def __init__(
        self,
        in_channels: int,
        num_horizons: int = 3,
        hidden_channels: Optional[int] = None,
        pool_heads: int = 1,
        loss_lat: Optional[dict] = None,
        loss_lon: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if in_channels % pool_heads:
            raise ValueError(f'MetaActionHead: pool_heads={pool_heads} must divide in_channels={in_channels}')
        hidden = hidden_channels or in_channels
        self.in_channels = in_channels
        self.num_horizons = num_horizons
        self.horizon_queries = nn.Parameter(torch.randn(num_horizons, in_channels) * 0.02)
        self.pool = nn.MultiheadAttention(in_channels, pool_heads, batch_first=True)
        self.norm = nn.LayerNorm(in_channels)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden), nn.GELU(), nn.Linear(hidden, self.num_lat + self.num_lon)
        )
        default_loss = dict(type='mmdet.CrossEntropyLoss', avg_non_ignore=True, loss_weight=1.0)
        self.loss_lat = MODELS.build(loss_lat or default_loss)
        self.loss_lon = MODELS.build(loss_lon or default_loss)

    def forward(self, tokens: Tensor) -> Tensor:
        """Pool the decision tokens to horizons and classify.

        Args:
            tokens (Tensor): (B, K_q, C) decision query tokens of the action expert.

        Returns:
            Tensor: (B, K, n_lat + n_lon) logits.
        """
        if tokens.dim() != 3 or tokens.shape[-1] != self.in_channels:
            raise ValueError(f'MetaActionHead: tokens must be (B, K_q, {self.in_channels}), got {tuple(tokens.shape)}')
        # repeat (a copy, not a view of the parameter): views of parameters made under no_grad trip
        # torch's FlopCounterMode module tracker.
        queries = self.horizon_queries.to(tokens.dtype)[None].repeat(tokens.shape[0], 1, 1)
        pooled, _ = self.pool(queries, tokens, tokens, need_weights=False)
        return self.mlp(self.norm(pooled + queries))

    def _split(self, logits: Tensor):
        if logits.dim() != 3 or logits.shape[-1] != self.num_lat + self.num_lon:
            raise ValueError(
                f'MetaActionHead: logits must be (B, K, {self.num_lat + self.num_lon}), got {tuple(logits.shape)}'
            )
        return logits[..., : self.num_lat], logits[..., self.num_lat :]

    def loss(self, logits: Tensor, gt: Tensor) -> Dict[str, Tensor]:
        """Cross-entropy of the lateral and longitudinal parts; ``-1`` labels are ignored.

        Args:
            logits (Tensor): (B, K, n_lat + n_lon) from :meth:`forward`.
            gt (Tensor): (B, K, 2) long (lateral id, longitudinal id), ``-1`` = ignore.

        Returns:
            dict: ``loss_meta_lat`` and ``loss_meta_lon`` (scalars; 0 when every label is ignored).
        """
        lat, lon = self._split(logits)
        if gt.shape != (*logits.shape[:2], 2):
            raise ValueError(f'MetaActionHead.loss: gt must be {(*logits.shape[:2], 2)}, got {tuple(gt.shape)}')
        gt = gt.long().to(logits.device)
        for part, n, name in ((gt[..., 0], self.num_lat, 'lateral'), (gt[..., 1], self.num_lon, 'longitudinal')):
            bad = (part != self.ignore_index) & ((part < 0) | (part >= n))
            if bad.any():
                raise ValueError(
                    f'MetaActionHead.loss: {name} labels must be in [0, {n}) or -1, got {part[bad].unique().tolist()}'
                )
        return dict(
            loss_meta_lat=self.loss_lat(
                lat.reshape(-1, self.num_lat), gt[..., 0].reshape(-1), ignore_index=self.ignore_index
            ),
            loss_meta_lon=self.loss_lon(
                lon.reshape(-1, self.num_lon), gt[..., 1].reshape(-1), ignore_index=self.ignore_index
            ),
        )

    def predict(self, logits: Tensor) -> Tensor:
        """Arg-max class ids.

        Args:
            logits (Tensor): (B, K, n_lat + n_lon).

        Returns:
            Tensor: (B, K, 2) long (lateral id, longitudinal id).
        """
        lat, lon = self._split(logits)
        return torch.stack([lat.argmax(-1), lon.argmax(-1)], dim=-1)
