# Copyright (c) mmautomot contributors. All rights reserved.
"""The two nuScenes open-loop planning protocols, written as explicit settings.

Papers report nuScenes planning L2 / collision numbers under two incompatible protocols and often do
not say which one they used (the same UniAD model scores L2 0.48 / 0.96 / 1.65 m under the UniAD
protocol and 0.42 / 0.64 / 0.91 m under ST-P3's). Both are evaluated here in one pass; the settings that
tell them apart are the fields of :class:`PlanningProtocol`. The settings they share (grid, ego
footprint, GT-collision exclusion) live in :class:`BEVCollisionConfig`.

* ST-P3 / VAD (Hu et al., ECCV 2022; Jiang et al., ICCV 2023): occupancy of vehicles **and**
  pedestrians; the value at ``h`` seconds is the **mean over all steps up to** ``h``; samples whose
  ego future does not have all ``T`` valid steps are **dropped**; grid drawn in VAD's image layout.
* UniAD (Hu et al., CVPR 2023): occupancy of **vehicles only**; the value at ``h`` seconds is the value
  **at step** ``h / dt``; invalid steps are **masked** (L2 0, no collision) but **every sample stays in
  the denominator**; steps past the scene end are fully occupied, so the GT footprint "collides" there
  and the step never counts as a collision; grid drawn in UniAD's image layout.
"""

from dataclasses import asdict, dataclass, replace
from typing import Dict, Tuple, Union

from mmautomot.structures.classes import NUSCENES_CLASSES, PEDESTRIAN_CLASSES, VEHICLE_CLASSES  # noqa: F401

HORIZON_RULES = ('mean_up_to', 'at_step')
INVALID_POLICIES = ('drop', 'mask')
#: image layouts of the reference rasterisers (see :mod:`.bev_collision`)
GRID_LAYOUTS = ('vad', 'uniad')
#: where the ego trajectory point sits for the collision check (see :mod:`.planning_reference`)
EGO_REFERENCES = ('lidar', 'lidar_fixed', 'ego')


@dataclass(frozen=True)
class BEVCollisionConfig:
    """Settings shared by both protocols (the reference implementations agree on them).

    Args:
        grid_size (int): cells per side of the square BEV grid centred on the ego. Defaults to 200.
        resolution (float): cell size in metres. Defaults to 0.5 (so the grid spans +-50 m).
        ego_length (float): ego footprint length along +x (forward), metres. Defaults to 4.084.
        ego_width (float): ego footprint width along y, metres. Defaults to 1.85.
        ego_forward_offset (float): the footprint centre lies this many metres ahead (+x) of the
            trajectory point. The footprint is never rotated with the heading. Defaults to 0.5.
        exclude_gt_collisions (bool): a step where the GT ego footprint collides counts as "no
            collision" but stays in the denominator. Defaults to True.
        ego_reference (str): the trajectory point of the collision check and the centre/axes of the
            grid (L2 never depends on it):

            * ``'lidar'`` (the published protocols): the LIDAR_TOP origin, grid in the LiDAR frame.
              Each step is moved by the GT's own lever arm ``gt_ego_fut_lidar_trajs - gt_ego_fut_trajs``
              (the prediction is taken to share the GT heading); needs ``lidar2ego`` and
              ``gt_ego_fut_lidar_trajs`` in every record.
            * ``'lidar_fixed'``: the LiDAR origin of the *current* frame carried along without
              rotating with the heading (the grid moves, the trajectory values stay); needs
              ``lidar2ego`` only.
            * ``'ego'``: the trajectory point as given (our rear axle), grid on the ego origin.

            Defaults to ``'lidar'``.
    """

    grid_size: int = 200
    resolution: float = 0.5
    ego_length: float = 4.084
    ego_width: float = 1.85
    ego_forward_offset: float = 0.5
    exclude_gt_collisions: bool = True
    ego_reference: str = 'lidar'

    def __post_init__(self):
        if self.grid_size <= 0 or self.resolution <= 0 or self.ego_length <= 0 or self.ego_width <= 0:
            raise ValueError(f'BEVCollisionConfig needs positive sizes, got {self}')
        if self.ego_reference not in EGO_REFERENCES:
            raise ValueError(
                f'BEVCollisionConfig.ego_reference must be one of {EGO_REFERENCES}, got {self.ego_reference!r}'
            )


@dataclass(frozen=True)
class PlanningProtocol:
    """One nuScenes open-loop planning protocol.

    Args:
        name (str): key prefix of the metrics (``'<name>/L2_1s'``).
        occupancy_classes (tuple[str]): names of :data:`NUSCENES_CLASSES` rasterised into the
            occupancy grid. ST-P3: vehicles + pedestrian; UniAD: vehicles only
            (:data:`VEHICLE_CLASSES`).
        horizon_rule (str): ``'mean_up_to'`` - the value at ``h`` s is the mean of the per-step values
            over steps ``1 .. h/dt`` (ST-P3 / VAD); ``'at_step'`` - the value at step ``h/dt`` only
            (UniAD).
        invalid_policy (str): ``'drop'`` - samples without all ``T`` valid future steps are left out
            (ST-P3 / VAD); ``'mask'`` - invalid steps contribute L2 0 and no collision but every sample
            stays in the denominator (UniAD).
        grid_layout (str): which reference rasteriser the grid follows: ``'vad'`` (ST-P3 / VAD's
            image, rotated 180 degrees from ours) or ``'uniad'`` (UniAD's, mirrored sideways); the
            two place footprint and boxes differently (see :mod:`.bev_collision`).
        past_scene_end_occupied (bool): steps past the scene end (``gt_ego_fut_masks == 0``) count as
            fully occupied, so the GT footprint collides and the step is excluded (UniAD). Defaults
            to False.
    """

    name: str
    occupancy_classes: Tuple[str, ...]
    horizon_rule: str
    invalid_policy: str
    grid_layout: str
    past_scene_end_occupied: bool = False

    def __post_init__(self):
        object.__setattr__(self, 'occupancy_classes', tuple(self.occupancy_classes))
        unknown = [c for c in self.occupancy_classes if c not in NUSCENES_CLASSES]
        if unknown:
            raise ValueError(
                f'protocol {self.name!r}: unknown occupancy classes {unknown}; choose from {NUSCENES_CLASSES}'
            )
        if self.horizon_rule not in HORIZON_RULES:
            raise ValueError(
                f'protocol {self.name!r}: horizon_rule must be one of {HORIZON_RULES}, got {self.horizon_rule!r}'
            )
        if self.invalid_policy not in INVALID_POLICIES:
            raise ValueError(
                f'protocol {self.name!r}: invalid_policy must be one of {INVALID_POLICIES}, got {self.invalid_policy!r}'
            )
        if self.grid_layout not in GRID_LAYOUTS:
            raise ValueError(
                f'protocol {self.name!r}: grid_layout must be one of {GRID_LAYOUTS}, got {self.grid_layout!r}'
            )

    @property
    def occupancy_label_ids(self) -> Tuple[int, ...]:
        return tuple(NUSCENES_CLASSES.index(c) for c in self.occupancy_classes)

    def describe(self) -> str:
        """A one-line description used as the table title."""
        if set(self.occupancy_classes) == set(VEHICLE_CLASSES):
            occ = 'vehicles'
        elif set(self.occupancy_classes) == set(VEHICLE_CLASSES + PEDESTRIAN_CLASSES):
            occ = 'vehicles+pedestrians'
        else:
            occ = '+'.join(self.occupancy_classes) or 'nothing'
        rule = 'mean over steps <= T' if self.horizon_rule == 'mean_up_to' else 'value at step 2T'
        inval = (
            'drop samples without all steps valid'
            if self.invalid_policy == 'drop'
            else 'mask invalid steps, keep all samples'
        )
        end = ', past-scene-end occupied' if self.past_scene_end_occupied else ''
        return f'{self.name}: occupancy={occ}; {rule}; {inval}{end}; {self.grid_layout} grid'


PROTOCOLS: Dict[str, PlanningProtocol] = {
    'stp3': PlanningProtocol(
        name='stp3',
        occupancy_classes=VEHICLE_CLASSES + PEDESTRIAN_CLASSES,
        horizon_rule='mean_up_to',
        invalid_policy='drop',
        grid_layout='vad',
        past_scene_end_occupied=False,
    ),
    'uniad': PlanningProtocol(
        name='uniad',
        occupancy_classes=VEHICLE_CLASSES,
        horizon_rule='at_step',
        invalid_policy='mask',
        grid_layout='uniad',
        past_scene_end_occupied=True,
    ),
}


def build_protocol(cfg: Union[str, dict, PlanningProtocol]) -> PlanningProtocol:
    """Build a protocol from a name (``'stp3'`` / ``'uniad'``), a dict or an instance.

    A dict may start from a named protocol and override fields, e.g.
    ``dict(base='uniad', name='uniad_ped', occupancy_classes=VEHICLE_CLASSES + ('pedestrian',))``;
    without ``base`` it must give every field.
    """
    if isinstance(cfg, PlanningProtocol):
        return cfg
    if isinstance(cfg, str):
        if cfg not in PROTOCOLS:
            raise KeyError(f'unknown planning protocol {cfg!r}; known: {sorted(PROTOCOLS)}')
        return PROTOCOLS[cfg]
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        base = cfg.pop('base', None)
        if base is not None:
            return replace(build_protocol(base), **cfg)
        return PlanningProtocol(**cfg)
    raise TypeError(f'a planning protocol must be a name, dict or PlanningProtocol, got {type(cfg)}')


def protocol_as_dict(protocol: PlanningProtocol) -> dict:
    """Plain-dict form of a protocol (for JSON output)."""
    return asdict(protocol)


__all__ = [
    'NUSCENES_CLASSES',
    'VEHICLE_CLASSES',
    'PEDESTRIAN_CLASSES',
    'GRID_LAYOUTS',
    'EGO_REFERENCES',
    'BEVCollisionConfig',
    'PlanningProtocol',
    'PROTOCOLS',
    'build_protocol',
    'protocol_as_dict',
]
