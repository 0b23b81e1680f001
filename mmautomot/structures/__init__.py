# Copyright (c) mmautomot contributors. All rights reserved.
from .commands import COMMANDS, carla_command_to_index, nuscenes_command_from_offset
from .driving_data_sample import DrivingDataSample
from .meta_actions import (LATERAL_CLASSES, LONGITUDINAL_CLASSES, MetaActionConfig,
                           derive_meta_actions, meta_action_to_text)

__all__ = [
    'DrivingDataSample', 'COMMANDS', 'carla_command_to_index', 'nuscenes_command_from_offset',
    'LATERAL_CLASSES', 'LONGITUDINAL_CLASSES', 'MetaActionConfig', 'derive_meta_actions',
    'meta_action_to_text'
]
