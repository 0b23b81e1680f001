# Copyright (c) mmautomot contributors. All rights reserved.
"""DriveMoE project: Drive-pi0 and DriveMoE assemblies (imported by the configs through ``custom_imports``)."""
from .drive_pi0 import DrivePi0
from .drivemoe import DriveMoE

__all__ = ['DrivePi0', 'DriveMoE']
