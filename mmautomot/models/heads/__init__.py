# Copyright (c) mmautomot contributors. All rights reserved.
from .meta_action_head import MetaActionHead
from .trajectory_head import TrajectoryHead

__all__ = ['MetaActionHead', 'TrajectoryHead']
