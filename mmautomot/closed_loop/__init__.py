# Copyright (c) mmautomot contributors. All rights reserved.
"""Closed-loop driving (Bench2Drive / CARLA leaderboard 2.0): agent core, model server, metrics.

Nothing here imports ``carla`` or ``leaderboard`` except :mod:`mmautomot.closed_loop.leaderboard_agent`
(imported on demand by the leaderboard through ``--agent``) and, inside a function, the offline map
reader of :mod:`mmautomot.closed_loop.junctions` (Traffic_Signs credit).
"""

from .agent_core import DEFAULT_AGENT_CFG, ClosedLoopAgent, merge_cfg
from .client import ServerBusyError
from .controller import PIDController, TrajectoryController
from .heuristics import Heuristics, HeuristicsConfig
from .metrics import (
    ResultsError,
    ability_scores,
    aggregate_seeds,
    comfort_corrected,
    comfort_from_metric_info,
    comfort_official,
    driving_score_success_rate,
    efficiency_from_records,
    evaluate_run_dir,
    load_ability_mapping,
    load_records,
    load_run,
)
from .preprocess import SensorPreprocessor, bgra_to_rgb, carla_lidar_to_ego, jpeg_roundtrip
from .protocol import (
    DriverProtocol,
    ObservationError,
    build_driver,
    step_driver,
    validate_driver_output,
    validate_observation,
)
from .recorder import RunRecorder
from .route_planner import RoutePlanner
from .server import ModelServer, RemoteDriver, RemoteDriverError
from .state import EgoState, StateEstimator

__all__ = [
    'ClosedLoopAgent',
    'DEFAULT_AGENT_CFG',
    'merge_cfg',
    'PIDController',
    'TrajectoryController',
    'Heuristics',
    'HeuristicsConfig',
    'SensorPreprocessor',
    'bgra_to_rgb',
    'carla_lidar_to_ego',
    'jpeg_roundtrip',
    'DriverProtocol',
    'build_driver',
    'step_driver',
    'validate_driver_output',
    'RunRecorder',
    'RoutePlanner',
    'ModelServer',
    'RemoteDriver',
    'RemoteDriverError',
    'EgoState',
    'StateEstimator',
    'load_records',
    'driving_score_success_rate',
    'efficiency_from_records',
    'comfort_from_metric_info',
    'ability_scores',
    'load_ability_mapping',
    'aggregate_seeds',
    'evaluate_run_dir',
    'comfort_official',
    'comfort_corrected',
    'load_run',
    'ResultsError',
    'ServerBusyError',
    'ObservationError',
    'validate_observation',
]
