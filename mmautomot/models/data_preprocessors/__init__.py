# Copyright (c) mmautomot contributors. All rights reserved.
from .driving_data_preprocessor import PLANNING_GT_KEYS, DrivingDataPreprocessor, stack_planning_gt

__all__ = ['DrivingDataPreprocessor', 'stack_planning_gt', 'PLANNING_GT_KEYS']
