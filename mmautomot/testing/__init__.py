# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers for tests and smoke runs (as ``mmdet.testing``): small synthetic batches in the model contract."""

from .demo_inputs import demo_driving_batch
from .mmdet3d_detectors import tiny_pointpillars_detector

__all__ = ['demo_driving_batch', 'tiny_pointpillars_detector']
