# Copyright (c) mmautomot contributors. All rights reserved.
from . import (data_preprocessors, encoders, heads, losses, moe, mot,  # noqa: F401
               planners, refiners, vlm)
