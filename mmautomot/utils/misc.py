# Copyright (c) mmautomot contributors. All rights reserved.
"""Small helpers with no package dependencies of their own."""

import numpy as np


def to_numpy(value) -> np.ndarray:
    """Tensor / array / list -> numpy array (detached, on CPU)."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
