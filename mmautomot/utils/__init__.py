# Copyright (c) mmautomot contributors. All rights reserved.
from .checkpoint_compat import (
    AtomicLocalBackend,
    UnsafeCheckpointError,
    atomic_write_bytes,
    enable_safe_mmengine_checkpoints,
    load_checkpoint_file,
    load_from_http_safe,
    load_from_local_safe,
    load_safetensors_checkpoint,
    register_safe_checkpoint_globals,
    safe_checkpoint_globals,
    safe_torch_load,
)
from .safe_pickle import UnsafePickleError, load_pickle_safe
from .setup_env import register_all_modules
from .state_dict_check import CheckpointMismatchError, check_state_dict_fits

__all__ = [
    'register_all_modules',
    'UnsafeCheckpointError',
    'enable_safe_mmengine_checkpoints',
    'load_from_local_safe',
    'load_safetensors_checkpoint',
    'register_safe_checkpoint_globals',
    'safe_checkpoint_globals',
    'safe_torch_load',
    'AtomicLocalBackend',
    'atomic_write_bytes',
    'load_checkpoint_file',
    'load_from_http_safe',
    'CheckpointMismatchError',
    'check_state_dict_fits',
    'UnsafePickleError',
    'load_pickle_safe',
]
