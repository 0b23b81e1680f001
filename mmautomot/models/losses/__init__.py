# Copyright (c) mmautomot contributors. All rights reserved.
"""Losses. Classification reuses mmdet's ``CrossEntropyLoss`` through the registry
(``type='mmdet.CrossEntropyLoss'``); trajectories use :class:`MaskedTrajectoryLoss`."""
from .trajectory_loss import MaskedTrajectoryLoss

__all__ = ['MaskedTrajectoryLoss']
