# Copyright (c) mmautomot contributors. All rights reserved.
from .planning_metric import PlanningMetric

__all__ = ['PlanningMetric']
