# Copyright (c) mmautomot contributors. All rights reserved.
from .bev import draw_planning_bev, meta_action_lines, sample_get
from .camera import draw_front_camera, draw_trajectories_on_image, front_camera_index, project_ego_points
from .local_visualizer import DrivingLocalVisualizer, figure_to_rgb, side_by_side

__all__ = [
    'draw_planning_bev',
    'meta_action_lines',
    'sample_get',
    'draw_front_camera',
    'draw_trajectories_on_image',
    'front_camera_index',
    'project_ego_points',
    'DrivingLocalVisualizer',
    'figure_to_rgb',
    'side_by_side',
]
