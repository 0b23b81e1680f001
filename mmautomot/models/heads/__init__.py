# Copyright (c) mmautomot contributors. All rights reserved.
from .flow_matching_head import FlowMatchingActionHead, sincos_time_embedding
from .meta_action_head import MetaActionHead
from .trajectory_head import TrajectoryHead

__all__ = ['FlowMatchingActionHead', 'MetaActionHead', 'TrajectoryHead', 'sincos_time_embedding']
