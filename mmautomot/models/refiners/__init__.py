# Copyright (c) mmautomot contributors. All rights reserved.
"""Trajectory refiners (AutoMoT+ action refiner)."""

from .dit_moa_refiner import DiTMoARefiner
from .moa_block import MoABlock
from .truncated_diffusion import TruncatedDiffusion

__all__ = ['DiTMoARefiner', 'MoABlock', 'TruncatedDiffusion']
