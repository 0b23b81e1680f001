# Copyright (c) mmautomot contributors. All rights reserved.
"""Masked point-wise regression loss for trajectories and paths."""

from typing import Optional

import torch
from torch import Tensor, nn

from mmautomot.registry import MODELS

_LOSS_TYPES = {'l1': 'mmdet.L1Loss', 'smooth_l1': 'mmdet.SmoothL1Loss'}


@MODELS.register_module()
class MaskedTrajectoryLoss(nn.Module):
    """L1 / smooth-L1 loss over the valid points of a batch of trajectories.

    A thin wrapper around mmdet's ``L1Loss`` / ``SmoothL1Loss`` (built through the registry) that turns a
    per-point validity mask into element weights. The loss is the mean over the valid *elements*
    (point x coordinate), i.e. ``sum(mask * |pred - gt|) / (2 * sum(mask))`` for 2-D points, times
    ``loss_weight``. A batch without any valid point gives an exact zero that keeps the graph.

    Args:
        loss_type (str): ``'l1'`` or ``'smooth_l1'``. Defaults to ``'l1'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
        beta (float): smooth-L1 transition point in metres (ignored for L1). Defaults to 1.0.
    """

    def __init__(self, loss_type: str = 'l1', loss_weight: float = 1.0, beta: float = 1.0) -> None:
        super().__init__()
        if loss_type not in _LOSS_TYPES:
            raise ValueError(f'MaskedTrajectoryLoss: loss_type must be one of {sorted(_LOSS_TYPES)}, got {loss_type!r}')
        cfg = dict(type=_LOSS_TYPES[loss_type], loss_weight=float(loss_weight), reduction='mean')
        if loss_type == 'smooth_l1':
            cfg['beta'] = float(beta)
        self.loss_type = loss_type
        self.loss_weight = float(loss_weight)
        self.loss = MODELS.build(cfg)

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): (B, P, D) predicted points (ego frame, metres).
            target (Tensor): (B, P, D) ground truth, same frame and units.
            mask (Tensor, optional): (B, P) validity (non-zero = valid). ``None`` = all valid.

        Returns:
            Tensor: scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f'MaskedTrajectoryLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape'
            )
        if mask is None:
            mask = pred.new_ones(pred.shape[:-1])
        if mask.shape != pred.shape[:-1]:
            raise ValueError(
                f'MaskedTrajectoryLoss: mask {tuple(mask.shape)} must be pred.shape[:-1] = {tuple(pred.shape[:-1])}'
            )
        weight = mask.to(device=pred.device, dtype=pred.dtype).unsqueeze(-1).expand_as(pred)
        target = torch.where(weight > 0, target.to(pred.dtype), pred.detach())  # NaN-safe padding
        # mmdet divides by (avg_factor + eps): no valid element gives an exact 0 without a sync.
        return self.loss(pred, target, weight=weight, avg_factor=weight.sum())
