# Copyright (c) mmautomot contributors. All rights reserved.
from .action_expert_layer import ActionExpertLayer
from .action_expert_padded import PaddedActionExpertLayer
from .joint_block import JointLayer
from .joint_layers import add_deepstack, ae_position_ids, mot_forward
from .prefix_kv_cache import PrefixKVCache
from .scheduler import AsyncScheduler  # deprecated alias of UERefreshPolicy
from .task_mask import ae_rows, build_cmca_mask, build_task_mask
from .ue_refresh import StaleCacheError, UERefreshPolicy

__all__ = [
    'ActionExpertLayer',
    'PaddedActionExpertLayer',
    'JointLayer',
    'mot_forward',
    'add_deepstack',
    'ae_position_ids',
    'PrefixKVCache',
    'UERefreshPolicy',
    'AsyncScheduler',
    'StaleCacheError',
    'build_task_mask',
    'build_cmca_mask',
    'ae_rows',
]
from .fsdp import mot_auto_wrap_policy  # noqa: E402
from .mot_transformer import MoTTransformer  # noqa: E402

__all__ += ['MoTTransformer', 'mot_auto_wrap_policy']
