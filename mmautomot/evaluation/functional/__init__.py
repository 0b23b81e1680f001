# Copyright (c) mmautomot contributors. All rights reserved.
from .bev_collision import (FILLPOLY_RULE, AgentTable, agent_polygons, ego_footprint_cells,
                            ego_footprint_offsets, footprint_collisions, rasterize_occupancy,
                            to_cell_index)
from .planning import (SAMPLE_KEYS, PlanningEvalResult, check_planning_sample, evaluate_planning,
                       format_planning_tables, stack_planning_samples, to_numpy)
from .planning_io import (attach_predictions, evaluate_planning_files, load_planning_predictions,
                          planning_gt_from_infos)
from .planning_protocols import (NUSCENES_CLASSES, PEDESTRIAN_CLASSES, PROTOCOLS, VEHICLE_CLASSES,
                                 BEVCollisionConfig, PlanningProtocol, build_protocol,
                                 protocol_as_dict)

__all__ = [
    'FILLPOLY_RULE', 'AgentTable', 'agent_polygons', 'ego_footprint_cells', 'ego_footprint_offsets',
    'footprint_collisions', 'rasterize_occupancy', 'to_cell_index', 'SAMPLE_KEYS',
    'PlanningEvalResult', 'check_planning_sample', 'evaluate_planning', 'format_planning_tables',
    'stack_planning_samples', 'to_numpy', 'NUSCENES_CLASSES', 'PEDESTRIAN_CLASSES', 'PROTOCOLS',
    'VEHICLE_CLASSES', 'BEVCollisionConfig', 'PlanningProtocol', 'build_protocol',
    'protocol_as_dict', 'attach_predictions', 'evaluate_planning_files',
    'load_planning_predictions', 'planning_gt_from_infos'
]
