# Copyright (c) mmautomot contributors. All rights reserved.
"""Softmax (multi-class) focal loss with per-class alpha, e.g. inverse class frequency."""

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmautomot.registry import MODELS


def inverse_frequency_alpha(class_counts: Sequence[float]) -> Tensor:
    """Per-class alpha ``(1 / n_c) / sum_c (1 / n_c)`` from class counts (every count must be > 0)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float32, device='cpu')  # checked here, also on meta builds
    if (counts <= 0).any():
        raise ValueError(f'inverse_frequency_alpha: class counts must be > 0, got {counts.tolist()}')
    inv = 1.0 / counts
    return inv / inv.sum()


@MODELS.register_module()
class SoftmaxFocalLoss(nn.Module):
    """``mean_i alpha_{y_i} (1 - p_{y_i})^gamma (-log p_{y_i})`` over a batch of logits.

    Paper: Lin et al., "Focal Loss for Dense Object Detection" (multi-class softmax form) as DriveMoE uses it
    to supervise its camera and skill routers (gamma 2, inverse-frequency alpha). mmdet's ``FocalLoss`` is the
    sigmoid (one-vs-all) form and mmcv's ``softmax_focal_loss`` op has no CPU kernel, hence this module.

    Tensor contract: ``forward(logits (N, K), target (N,) long) -> scalar``; targets equal to
    ``ignore_index`` do not count (a batch with none valid gives 0 with a graph).

    Args:
        gamma (float): focusing parameter. Defaults to 2.0.
        alpha (Sequence[float] | None): per-class weights (K,); None = 1 for every class.
        class_counts (Sequence[float] | None): alternatively, class counts -> inverse-frequency alpha.
        loss_weight (float): Defaults to 1.0.
        ignore_index (int): Defaults to -1.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Optional[Sequence[float]] = None,
        class_counts: Optional[Sequence[float]] = None,
        loss_weight: float = 1.0,
        ignore_index: int = -1,
    ):
        super().__init__()
        if alpha is not None and class_counts is not None:
            raise ValueError('SoftmaxFocalLoss: give alpha or class_counts, not both')
        if class_counts is not None:
            alpha = inverse_frequency_alpha(class_counts)
        alpha_t = None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32, device='cpu')
        self.register_buffer('alpha', alpha_t, persistent=False)
        self.gamma, self.loss_weight, self.ignore_index = float(gamma), float(loss_weight), ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.dim() != 2 or target.shape != logits.shape[:1]:
            raise ValueError(
                f'SoftmaxFocalLoss: logits must be (N, K) and target (N,), got '
                f'{tuple(logits.shape)} and {tuple(target.shape)}'
            )
        target = target.long()
        valid = target != self.ignore_index
        if self.alpha is not None and self.alpha.numel() != logits.shape[1]:
            raise ValueError(f'SoftmaxFocalLoss: {self.alpha.numel()} alpha values for {logits.shape[1]} classes')
        safe = torch.where(valid, target, torch.zeros_like(target))
        if ((safe < 0) | (safe >= logits.shape[1])).any():
            raise ValueError(f'SoftmaxFocalLoss: targets must be in [0, {logits.shape[1]}) or ignore_index')
        logp = F.log_softmax(logits.float(), dim=-1).gather(1, safe[:, None])[:, 0]
        loss = -((1.0 - logp.exp()) ** self.gamma) * logp
        if self.alpha is not None:
            loss = loss * self.alpha.to(loss.device)[safe]
        loss = loss * valid.float()
        return self.loss_weight * loss.sum() / valid.sum().clamp(min=1)
