# Copyright (c) mmautomot contributors. All rights reserved.
"""AutoMoT project: the model assembly (imported by the configs through ``custom_imports``)."""

from .ae_tokens import AutoMoTActionTokens
from .automot import AutoMoT
from .official_heads import LMHeadDecisionHead, ReleasedTrajectoryHead, ReleasedVelocityHead
from .official_tokens import ReleasedActionTokens

__all__ = [
    'AutoMoT',
    'AutoMoTActionTokens',
    'ReleasedActionTokens',
    'ReleasedTrajectoryHead',
    'ReleasedVelocityHead',
    'LMHeadDecisionHead',
]
