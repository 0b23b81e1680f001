# Copyright (c) mmautomot contributors. All rights reserved.
from .classes import NUSCENES_CLASSES, PEDESTRIAN_CLASSES, VEHICLE_CLASSES
from .commands import COMMANDS, carla_command_to_index, nuscenes_command_from_offset
from .info_format import INFO_VERSION, PLANNING_LAYOUT, InfoFormatError, check_info_metainfo
from .meta_actions import (
    LATERAL_CLASSES,
    LONGITUDINAL_CLASSES,
    MetaActionConfig,
    derive_meta_actions,
    meta_action_to_text,
)
from .prompts import driving_prompt, ue_user_text

__all__ = [
    'DrivingDataSample',
    'NUSCENES_CLASSES',
    'PEDESTRIAN_CLASSES',
    'VEHICLE_CLASSES',
    'COMMANDS',
    'carla_command_to_index',
    'nuscenes_command_from_offset',
    'LATERAL_CLASSES',
    'LONGITUDINAL_CLASSES',
    'MetaActionConfig',
    'derive_meta_actions',
    'meta_action_to_text',
    'INFO_VERSION',
    'PLANNING_LAYOUT',
    'InfoFormatError',
    'check_info_metainfo',
    'driving_prompt',
    'ue_user_text',
]


def __getattr__(name):
    # DrivingDataSample needs mmengine (and torch); import it lazily so the closed-loop side, which only needs
    # the command vocabulary, can run in CARLA's Python without torch.
    if name == 'DrivingDataSample':
        from .driving_data_sample import DrivingDataSample

        return DrivingDataSample
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
