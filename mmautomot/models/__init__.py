# Copyright (c) mmautomot contributors. All rights reserved.
from . import data_preprocessors, encoders, heads, losses, moe, mot, planners, refiners, vlm  # noqa: F401
