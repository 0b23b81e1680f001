# Copyright (c) mmautomot contributors. All rights reserved.
from . import transforms  # noqa: F401  (registers the transforms)
from .bad_samples import BadSample, skip_bad_samples_collate
from .nuscenes_e2e_dataset import NuScenesE2EDataset
from . import bench2drive, converters, synthetic  # noqa: F401,E402  (register their components)

__all__ = ['NuScenesE2EDataset', 'BadSample', 'skip_bad_samples_collate']
