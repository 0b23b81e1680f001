# Copyright (c) mmautomot contributors. All rights reserved.
from .formatting import PackDrivingInputs
from .loading_images import LoadFrontCamHistory, LoadMultiViewImages, load_rgb_image
from .loading_points import LoadPointsInEgoFrame
from .planning_targets import BuildPlanningTargets, command_words

__all__ = [
    'LoadFrontCamHistory',
    'LoadMultiViewImages',
    'LoadPointsInEgoFrame',
    'BuildPlanningTargets',
    'PackDrivingInputs',
    'load_rgb_image',
    'command_words',
]
