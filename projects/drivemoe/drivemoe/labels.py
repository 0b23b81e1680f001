# Copyright (c) mmautomot contributors. All rights reserved.
"""DriveMoE router labels: camera view and driving skill per frame, by documented rules or from label files.

Camera labels (index into the routed views, the released label order): 0 CAM_FRONT_LEFT, 1 CAM_FRONT_RIGHT,
2 CAM_BACK, 3 CAM_BACK_LEFT, 4 CAM_BACK_RIGHT; "no critical view" (``NULL`` in the released files) maps to
CAM_BACK (2), as in the released data (72 % of its frames).

Skill labels (the action router's experts, the released order): 0 merging, 1 parking exit, 2 overtaking,
3 emergency brake, 4 give way, 5 traffic sign, 6 normal.

Rules on our infos (``docs/contracts.md`` fields, ego frame x forward / y left):

* camera, in priority order: (1) a turn command -> the front-side view toward the exit (turn left -> FL,
  turn right -> FR); (2) a lane-change command -> the rear-side view of the target side (left -> BL,
  right -> BR; the target lane is assumed to run the ego's way); (3) else the nearest agent within
  ``near_radius`` metres outside the front camera's field of view (``|bearing| > front_half_fov``) picks the
  view whose sector holds its bearing (FL (fov, 90], BL (90, 145], BACK beyond 145, mirrored on the right);
  (4) else NULL -> CAM_BACK.
* skill: (1) the ego braking hard (longitudinal acceleration <= ``brake_acc``) -> emergency brake;
  (2) else the route's Bench2Drive scenario type (the route folder name's first part) through
  :data:`SCENARIO_SKILLS`; (3) else a lane-change command -> merging; (4) else normal. nuScenes has no
  scenario type: rules (1), (3), (4).
"""

import json
import math
import os.path as osp
import re
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmautomot.registry import TRANSFORMS
from mmautomot.structures.commands import COMMANDS

CAMERA_VIEWS = ('CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
NULL_CAMERA = CAMERA_VIEWS.index('CAM_BACK')
SKILLS = ('merging', 'parking_exit', 'overtaking', 'emergency_brake', 'give_way', 'traffic_sign', 'normal')

#: Bench2Drive scenario type -> skill (our reading of the scenario definitions; unknown types -> normal).
SCENARIO_SKILLS = {
    **dict.fromkeys(
        (
            'HighwayCutIn',
            'HighwayExit',
            'MergerIntoSlowTraffic',
            'MergerIntoSlowTrafficV2',
            'InterurbanActorFlow',
            'InterurbanAdvancedActorFlow',
            'EnterActorFlow',
            'EnterActorFlowV2',
            'StaticCutIn',
            'ParkingCutIn',
        ),
        'merging',
    ),
    'ParkingExit': 'parking_exit',
    **dict.fromkeys(
        (
            'Accident',
            'AccidentTwoWays',
            'ConstructionObstacle',
            'ConstructionObstacleTwoWays',
            'HazardAtSideLane',
            'HazardAtSideLaneTwoWays',
            'ParkedObstacle',
            'ParkedObstacleTwoWays',
            'VehicleOpensDoorTwoWays',
            'LaneChange',
        ),
        'overtaking',
    ),
    **dict.fromkeys(
        (
            'HardBreakRoute',
            'ControlLoss',
            'DynamicObjectCrossing',
            'ParkingCrossingPedestrian',
            'PedestrianCrossing',
            'VehicleTurningRoute',
            'VehicleTurningRoutePedestrian',
            'CrossingBicycleFlow',
            'BlockedIntersection',
        ),
        'emergency_brake',
    ),
    **dict.fromkeys(('YieldToEmergencyVehicle', 'InvadingTurn'), 'give_way'),
    **dict.fromkeys(
        (
            'SignalizedJunctionLeftTurn',
            'SignalizedJunctionRightTurn',
            'NonSignalizedJunctionLeftTurn',
            'NonSignalizedJunctionRightTurn',
            'OppositeVehicleRunningRedLight',
            'OppositeVehicleTakingPriority',
            'T_Junction',
            'VanillaSignalizedTurnEncounterGreenLight',
            'VanillaSignalizedTurnEncounterRedLight',
            'VanillaNonSignalizedTurn',
            'VanillaNonSignalizedTurnEncounterStopsign',
            'SignalizedJunctionLeftTurnEnterFlow',
            'NonSignalizedJunctionLeftTurnEnterFlow',
        ),
        'traffic_sign',
    ),
}

_ROUTE_RE = re.compile(
    r'^(?P<scenario>[A-Za-z0-9]+(?:_[A-Za-z][A-Za-z0-9]*)*?)_(?P<town>Town\d+\w*)_Route'
    r'(?P<route>\d+)_Weather(?P<weather>\d+)'
)


def parse_route_name(name: str) -> Optional[Dict[str, str]]:
    """``<Scenario>_<Town>_Route<id>_Weather<w>`` -> dict(scenario, town, route, weather), else None."""
    m = _ROUTE_RE.match(osp.basename(name.rstrip('/')))
    return m.groupdict() if m else None


def camera_label_from_rules(
    command: int, agent_xy: Optional[np.ndarray], near_radius: float = 30.0, front_half_fov: float = 35.0
) -> int:
    """The camera label of one frame (rules in the module docstring).

    Args:
        command (int): navigation command (:data:`mmautomot.structures.COMMANDS`).
        agent_xy (ndarray | None): (N, 2) agent centres in the ego frame, metres.
    """
    name = COMMANDS[int(command)] if 0 <= int(command) < len(COMMANDS) else ''
    if name in ('turn_left', 'turn_right'):
        return CAMERA_VIEWS.index('CAM_FRONT_LEFT' if name == 'turn_left' else 'CAM_FRONT_RIGHT')
    if name in ('change_lane_left', 'change_lane_right'):
        return CAMERA_VIEWS.index('CAM_BACK_LEFT' if name == 'change_lane_left' else 'CAM_BACK_RIGHT')
    if agent_xy is not None and len(agent_xy):
        xy = np.asarray(agent_xy, dtype=np.float64).reshape(-1, 2)
        bearing = np.degrees(np.arctan2(xy[:, 1], xy[:, 0]))  # CCW from forward, + = left
        dist = np.hypot(xy[:, 0], xy[:, 1])
        cand = (dist <= near_radius) & (np.abs(bearing) > front_half_fov)
        if cand.any():
            b = float(bearing[cand][np.argmin(dist[cand])])
            side = 'LEFT' if b > 0 else 'RIGHT'
            if abs(b) <= 90.0:
                return CAMERA_VIEWS.index(f'CAM_FRONT_{side}')
            if abs(b) <= 145.0:
                return CAMERA_VIEWS.index(f'CAM_BACK_{side}')
            return CAMERA_VIEWS.index('CAM_BACK')
    return NULL_CAMERA


def skill_label_from_rules(
    command: int, lon_acc: float, scenario: Optional[str] = None, brake_acc: float = -3.0
) -> int:
    """The skill label of one frame (rules in the module docstring); ``lon_acc`` in m/s^2."""
    if math.isfinite(lon_acc) and lon_acc <= brake_acc:
        return SKILLS.index('emergency_brake')
    if scenario is not None and scenario in SCENARIO_SKILLS:
        return SKILLS.index(SCENARIO_SKILLS[scenario])
    name = COMMANDS[int(command)] if 0 <= int(command) < len(COMMANDS) else ''
    if name in ('change_lane_left', 'change_lane_right'):
        return SKILLS.index('merging')
    return SKILLS.index('normal')


def read_label_file(path: str, kind: str = 'camera') -> Dict[int, int]:
    """Read a released label file (``camera_labels/<Scenario>_<Town>_Route<id>_Weather<w>.json``).

    The file is a JSON object ``{"<frame>": label}``: camera files hold ``"NULL"`` or a ``"CAM_*"`` name,
    scenario files a skill name (``"MERGING"``, ``"GIVEWAY"``, ``"TRAFFIC_LIGHT"``, ...).

    Returns:
        dict: frame index -> label index (cameras: :data:`CAMERA_VIEWS`, NULL -> CAM_BACK; skills:
        :data:`SKILLS`).
    """
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object {{"<frame>": label}}, got {type(data).__name__}')
    out = {}
    for key, value in data.items():
        try:
            frame = int(key)
        except ValueError:
            raise ValueError(f'{path}: frame key {key!r} is not an integer') from None
        out[frame] = _label_index(str(value), kind, f'{path} frame {key}')
    return out


_SKILL_NAMES = {
    'MERGING': 0,
    'MERGING_HIGHWAY': 0,
    'MERGING_JUNCTION': 0,
    'PARKING_EXIT': 1,
    'OVERTAKING': 2,
    'EMERGENCY_BRAKE': 3,
    'GIVEWAY': 4,
    'GIVEWAY_HIGHWAY': 4,
    'GIVE_WAY': 4,
    'TRAFFIC_LIGHT': 5,
    'TRAFFIC_SIGN': 5,
    'NORMAL': 6,
}


def _label_index(value: str, kind: str, where: str) -> int:
    if kind == 'camera':
        if value == 'NULL':
            return NULL_CAMERA
        if value not in CAMERA_VIEWS:
            raise ValueError(f'{where}: camera label {value!r} is not NULL or one of {CAMERA_VIEWS}')
        return CAMERA_VIEWS.index(value)
    if kind == 'scenario':
        if value.upper() not in _SKILL_NAMES:
            raise ValueError(f'{where}: scenario label {value!r} is not one of {sorted(_SKILL_NAMES)}')
        return _SKILL_NAMES[value.upper()]
    raise ValueError(f"read_label_file: kind must be 'camera' or 'scenario', got {kind!r}")


@TRANSFORMS.register_module()
class BuildDriveMoELabels(BaseTransform):
    """Add ``camera_label`` and ``scenario_label`` (ints) to a pipeline result.

    Rules in :mod:`projects.drivemoe.drivemoe.labels`; with ``camera_label_dir`` / ``scenario_label_dir`` the
    released per-route files are read instead (route = ``scene_token``, frame = the frame number at the end
    of ``token`` / ``sample_idx``). Reads ``command``, ``ego_status`` (lon acc = [1]), ``plan_agent_boxes``
    (x, y in the ego frame) and ``scene_token``.

    Args:
        camera_label_dir (str | None): folder of released camera label files.
        scenario_label_dir (str | None): folder of released scenario label files.
        near_radius (float): metres for the agent rule. Defaults to 30.
        brake_acc (float): m/s^2 at or below which a frame is emergency braking. Defaults to -3.
    """

    def __init__(
        self,
        camera_label_dir: Optional[str] = None,
        scenario_label_dir: Optional[str] = None,
        near_radius: float = 30.0,
        brake_acc: float = -3.0,
    ):
        self.camera_label_dir, self.scenario_label_dir = camera_label_dir, scenario_label_dir
        self.near_radius, self.brake_acc = near_radius, brake_acc
        self._files: Dict[str, Dict[int, int]] = {}

    def _from_file(self, folder: str, kind: str, results: dict) -> int:
        route = osp.basename(str(results.get('scene_token', '')))
        path = osp.join(folder, f'{route}.json')
        if path not in self._files:
            if not osp.isfile(path):
                raise FileNotFoundError(f'BuildDriveMoELabels: no {kind} label file {path} for route {route!r}')
            self._files[path] = read_label_file(path, kind)
        m = re.search(r'(\d+)$', str(results.get('token', results.get('sample_idx', ''))))
        frame = int(m.group(1)) if m else -1
        labels = self._files[path]
        if frame not in labels:
            raise KeyError(f'BuildDriveMoELabels: {path} has no frame {frame} (token {results.get("token")!r})')
        return labels[frame]

    def transform(self, results: dict) -> dict:
        command = int(results.get('command', COMMANDS.index('lane_follow')))
        boxes = results.get('plan_agent_boxes')
        agent_xy = None if boxes is None or len(boxes) == 0 else np.asarray(boxes)[:, :2]
        status = results.get('ego_status')
        lon_acc = float(status[1]) if status is not None else float('nan')
        route = parse_route_name(str(results.get('scene_token', '')))
        if self.camera_label_dir:
            results['camera_label'] = self._from_file(self.camera_label_dir, 'camera', results)
        else:
            results['camera_label'] = camera_label_from_rules(command, agent_xy, self.near_radius)
        if self.scenario_label_dir:
            results['scenario_label'] = self._from_file(self.scenario_label_dir, 'scenario', results)
        else:
            results['scenario_label'] = skill_label_from_rules(
                command, lon_acc, route and route['scenario'], self.brake_acc
            )
        return results
