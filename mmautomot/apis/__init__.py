# Copyright (c) mmautomot contributors. All rights reserved.
from .config_loading import build_model_on_meta, check_cfg_options_keys, count_params, load_config
from .driver import Driver
from .ego_planner_driver import EgoPlannerDriver
from .inference import init_model, load_weights

__all__ = [
    'init_model',
    'load_weights',
    'Driver',
    'EgoPlannerDriver',
    'load_config',
    'build_model_on_meta',
    'count_params',
    'check_cfg_options_keys',
]
