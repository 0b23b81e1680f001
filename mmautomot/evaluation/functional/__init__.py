# Copyright (c) mmautomot contributors. All rights reserved.
from .bev_collision import (FILLPOLY_RULE, AgentTable, agent_polygons, footprint_collisions,
                            footprint_offsets, footprint_pixels, grid_collisions, grid_to_image,
                            image_to_grid, rasterize_occupancy)
from .planning import (OPTIONAL_KEYS, SAMPLE_KEYS, PlanningArrays, PlanningEvalResult,
                       check_planning_sample, evaluate_planning, format_planning_tables,
                       stack_planning_samples, to_numpy)
from .planning_io import (attach_predictions, evaluate_planning_files, load_planning_predictions,
                          planning_gt_from_infos)
from .planning_protocols import (EGO_REFERENCES, GRID_LAYOUTS, NUSCENES_CLASSES, PEDESTRIAN_CLASSES,
                                 PROTOCOLS, VEHICLE_CLASSES, BEVCollisionConfig, PlanningProtocol,
                                 build_protocol, protocol_as_dict)
from .planning_reference import (reference_agents, reference_trajectories, reference_transform,
                                 to_reference)

__all__ = [
    'FILLPOLY_RULE', 'AgentTable', 'agent_polygons', 'footprint_collisions', 'footprint_offsets',
    'footprint_pixels', 'grid_collisions', 'grid_to_image', 'image_to_grid', 'rasterize_occupancy',
    'OPTIONAL_KEYS', 'SAMPLE_KEYS', 'PlanningArrays', 'PlanningEvalResult', 'check_planning_sample',
    'evaluate_planning', 'format_planning_tables', 'stack_planning_samples', 'to_numpy',
    'EGO_REFERENCES', 'GRID_LAYOUTS', 'NUSCENES_CLASSES', 'PEDESTRIAN_CLASSES', 'PROTOCOLS',
    'VEHICLE_CLASSES', 'BEVCollisionConfig', 'PlanningProtocol', 'build_protocol',
    'protocol_as_dict', 'attach_predictions', 'evaluate_planning_files',
    'load_planning_predictions', 'planning_gt_from_infos', 'reference_agents',
    'reference_trajectories', 'reference_transform', 'to_reference'
]
