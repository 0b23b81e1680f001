# Copyright (c) mmautomot contributors. All rights reserved.
"""Training/testing runtime helpers for mmautomot.

Importing this package (which any MMEngine Runner in the ``mmautomot`` scope does through the
registries' lazy ``locations``) enables safe ``weights_only`` loading of MMEngine checkpoints, see
:mod:`mmautomot.utils.checkpoint_compat`.
"""

from mmautomot.utils.checkpoint_compat import enable_safe_mmengine_checkpoints

from .dist_env import finalize_dist_env, prepare_dist_env
from .hooks import *  # noqa: F401,F403
from .loops import SkipBadSamplesTestLoop, SkipBadSamplesValLoop
from .tool_config import apply_bad_sample_policy, ensure_checkpoint_check, load_tool_config

enable_safe_mmengine_checkpoints()

__all__ = [
    'SkipBadSamplesTestLoop',
    'SkipBadSamplesValLoop',
    'apply_bad_sample_policy',
    'ensure_checkpoint_check',
    'finalize_dist_env',
    'load_tool_config',
    'prepare_dist_env',
]
