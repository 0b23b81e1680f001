# Copyright (c) mmautomot contributors. All rights reserved.
from . import (data_preprocessors, encoders, heads, losses, mot, planners,  # noqa: F401
               refiners, vlm)
