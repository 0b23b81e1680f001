# Copyright (c) mmautomot contributors. All rights reserved.
from .visualization_hook import PlanningVisualizationHook

__all__ = ['PlanningVisualizationHook']
