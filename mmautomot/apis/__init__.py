# Copyright (c) mmautomot contributors. All rights reserved.
from .driver import Driver
from .ego_planner_driver import EgoPlannerDriver
from .inference import init_model, load_weights

__all__ = ['init_model', 'load_weights', 'Driver', 'EgoPlannerDriver']
