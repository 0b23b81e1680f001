# Copyright (c) mmautomot contributors. All rights reserved.
"""DriveMoE project: Drive-pi0 and DriveMoE assemblies (imported by the configs through ``custom_imports``)."""

from .drive_pi0 import DrivePi0
from .drivemoe import DriveMoE
from .labels import (
    CAMERA_VIEWS,
    SKILLS,
    BuildDriveMoELabels,
    camera_label_from_rules,
    parse_route_name,
    read_label_file,
    skill_label_from_rules,
)

__all__ = [
    'DrivePi0',
    'DriveMoE',
    'BuildDriveMoELabels',
    'CAMERA_VIEWS',
    'SKILLS',
    'camera_label_from_rules',
    'parse_route_name',
    'read_label_file',
    'skill_label_from_rules',
]
