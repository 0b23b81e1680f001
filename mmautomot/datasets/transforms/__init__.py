# Copyright (c) mmautomot contributors. All rights reserved.
from .formatting import PackDrivingInputs
from .loading_arrays import (
    LoadFrontCamHistoryFromArray,
    LoadMultiViewImagesFromArray,
    LoadPointsFromArray,
    array_pipeline,
)
from .loading_images import LoadFrontCamHistory, LoadMultiViewImages, load_rgb_image
from .loading_points import LoadPointsInEgoFrame
from .planning_targets import BuildPlanningTargets, command_words
from .vlm_inputs import ProcessVLAPrefixInputs, ProcessVLMInputs

__all__ = [
    'LoadFrontCamHistory',
    'LoadMultiViewImages',
    'LoadPointsInEgoFrame',
    'BuildPlanningTargets',
    'PackDrivingInputs',
    'load_rgb_image',
    'command_words',
    'LoadFrontCamHistoryFromArray',
    'LoadMultiViewImagesFromArray',
    'LoadPointsFromArray',
    'array_pipeline',
    'ProcessVLMInputs',
    'ProcessVLAPrefixInputs',
]
