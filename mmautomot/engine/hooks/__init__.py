# Copyright (c) mmautomot contributors. All rights reserved.
from .checkpoint_check_hook import CheckpointCheckHook
from .visualization_hook import PlanningVisualizationHook

__all__ = ['CheckpointCheckHook', 'PlanningVisualizationHook']
