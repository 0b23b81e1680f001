# Copyright (c) mmautomot contributors. All rights reserved.
from .bad_sample_hook import BadSampleHook
from .checkpoint_check_hook import CheckpointCheckHook
from .visualization_hook import PlanningVisualizationHook

__all__ = ['BadSampleHook', 'CheckpointCheckHook', 'PlanningVisualizationHook']
