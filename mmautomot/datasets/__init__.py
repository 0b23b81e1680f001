# Copyright (c) mmautomot contributors. All rights reserved.
from . import (  # noqa: F401,E402  (register their components)
    bench2drive,
    converters,
    transforms,  # noqa: F401  (registers the transforms)
)
from .bad_samples import BadSample, skip_bad_samples_collate
from .nuscenes_e2e_dataset import NuScenesE2EDataset

# The synthetic data generators (`mmautomot.datasets.synthetic`, `mmautomot.datasets.bench2drive.synthetic`)
# are imported on demand only: they pull nuscenes-devkit and rendering code that training does not need.

__all__ = ['NuScenesE2EDataset', 'BadSample', 'skip_bad_samples_collate']
