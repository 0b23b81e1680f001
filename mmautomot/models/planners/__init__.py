# Copyright (c) mmautomot contributors. All rights reserved.
from .base_ego_planner import BaseEgoPlanner
from .constant_velocity import ConstantVelocityPlanner
from .ego_mlp import EgoMLPPlanner

__all__ = ['BaseEgoPlanner', 'ConstantVelocityPlanner', 'EgoMLPPlanner']
