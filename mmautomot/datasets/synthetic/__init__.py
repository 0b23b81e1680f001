# Copyright (c) mmautomot contributors. All rights reserved.
"""A built-in synthetic dataset in the nuScenes v1.0 schema (see :func:`make_synthetic_nuscenes`)."""

from .generator import SyntheticNuScenesConfig, make_synthetic_nuscenes
from .render import box_corners, render_camera
from .scenario import build_scene
from .sensors import CAM_NAMES, camera_rig
from .tables import scene_names
from .world import RoadGrid

__all__ = [
    'SyntheticNuScenesConfig',
    'make_synthetic_nuscenes',
    'render_camera',
    'box_corners',
    'build_scene',
    'CAM_NAMES',
    'camera_rig',
    'scene_names',
    'RoadGrid',
]
