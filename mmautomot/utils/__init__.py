# Copyright (c) mmautomot contributors. All rights reserved.
from .checkpoint_compat import (UnsafeCheckpointError, enable_safe_mmengine_checkpoints,
                                load_from_local_safe, load_safetensors_checkpoint,
                                register_safe_checkpoint_globals, safe_checkpoint_globals,
                                safe_torch_load)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'UnsafeCheckpointError', 'enable_safe_mmengine_checkpoints',
    'load_from_local_safe', 'load_safetensors_checkpoint', 'register_safe_checkpoint_globals',
    'safe_checkpoint_globals', 'safe_torch_load'
]
