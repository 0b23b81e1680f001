# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive (Think2Drive) and PDM-Lite CARLA datasets: readers, info converter, dataset, loader."""

from .converter import create_bench2drive_infos, route_infos
from .dataset import Bench2DriveE2EDataset, PDMLiteE2EDataset
from .layout import CLASSES, find_routes, read_b2d_route, read_pdm_route
from .transforms import LoadCarlaPoints, load_carla_points

__all__ = [
    'create_bench2drive_infos',
    'route_infos',
    'Bench2DriveE2EDataset',
    'PDMLiteE2EDataset',
    'CLASSES',
    'find_routes',
    'read_b2d_route',
    'read_pdm_route',
    'LoadCarlaPoints',
    'load_carla_points',
]
