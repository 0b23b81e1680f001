# Copyright (c) mmautomot contributors. All rights reserved.
from .functional import PROTOCOLS, BEVCollisionConfig, PlanningProtocol, evaluate_planning, format_planning_tables
from .metrics import PlanningMetric

__all__ = [
    'PlanningMetric',
    'PROTOCOLS',
    'BEVCollisionConfig',
    'PlanningProtocol',
    'evaluate_planning',
    'format_planning_tables',
]
