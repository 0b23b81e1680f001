# Copyright (c) mmautomot contributors. All rights reserved.
"""mmautomot hooks. MMEngine's own hooks (``EMAHook``, ``CheckpointHook`` ...) are used as they
are; planning visualisation lives in :mod:`mmautomot.visualization`."""
__all__ = []
