# Copyright (c) mmautomot contributors. All rights reserved.
"""Helpers for tests and smoke runs (as ``mmdet.testing``): small synthetic batches in the model contract."""
from .demo_inputs import demo_driving_batch

__all__ = ['demo_driving_batch']
