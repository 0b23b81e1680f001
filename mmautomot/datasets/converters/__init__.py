# Copyright (c) mmautomot contributors. All rights reserved.
"""Dataset converters that write info pkls (see ``tools/create_data.py``)."""

from .nuscenes_converter import (
    MMDET3D_NUS_CLASSES,
    NUS_CLASSES,
    NuScenesInfoBuilder,
    check_tables,
    create_nuscenes_infos,
    split_scenes,
)
from .planning_labels import pad_history, resample_path, status_from_can, status_from_poses

__all__ = [
    'NUS_CLASSES',
    'NuScenesInfoBuilder',
    'check_tables',
    'create_nuscenes_infos',
    'split_scenes',
    'pad_history',
    'resample_path',
    'status_from_can',
    'status_from_poses',
    'MMDET3D_NUS_CLASSES',
]
