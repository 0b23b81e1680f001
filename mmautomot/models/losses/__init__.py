# Copyright (c) mmautomot contributors. All rights reserved.
"""Losses. Classification reuses mmdet's ``CrossEntropyLoss`` through the registry
(``type='mmdet.CrossEntropyLoss'``); trajectories use :class:`MaskedTrajectoryLoss`."""

from .focal_loss import SoftmaxFocalLoss, inverse_frequency_alpha
from .trajectory_loss import MaskedTrajectoryLoss

__all__ = ['MaskedTrajectoryLoss', 'SoftmaxFocalLoss', 'inverse_frequency_alpha']
