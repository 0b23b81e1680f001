# Copyright (c) mmautomot contributors. All rights reserved.
"""AutoMoT project: the model assembly (imported by the configs through ``custom_imports``)."""
from .ae_tokens import AutoMoTActionTokens
from .automot import AutoMoT

__all__ = ['AutoMoT', 'AutoMoTActionTokens']
