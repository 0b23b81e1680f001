# Copyright (c) mmautomot contributors. All rights reserved.
"""The fixed nuScenes v1.0 tables (category, attribute, visibility, sensor) and token helpers."""

import hashlib
from typing import List

from nuscenes.utils import splits

CATEGORIES = (
    ('human.pedestrian.adult', 'Adult subcategory.'),
    ('human.pedestrian.child', 'Child subcategory.'),
    ('human.pedestrian.wheelchair', 'Wheelchairs.'),
    ('human.pedestrian.stroller', 'Strollers.'),
    ('human.pedestrian.personal_mobility', 'A small electric or self-propelled vehicle.'),
    ('human.pedestrian.police_officer', 'Police officer.'),
    ('human.pedestrian.construction_worker', 'Construction worker'),
    ('animal', 'All animals, e.g. cats, rats, dogs, deer, birds.'),
    ('vehicle.car', 'Vehicle designed primarily for personal use, e.g. sedans, hatch-backs, wagons.'),
    ('vehicle.motorcycle', 'Gasoline or electric powered 2-wheeled vehicle.'),
    ('vehicle.bicycle', 'Human or electric powered 2-wheeled vehicle designed to travel at lower speeds.'),
    ('vehicle.bus.bendy', 'Bendy bus subcategory. Annotate each section of the bendy bus individually.'),
    ('vehicle.bus.rigid', 'Rigid bus subcategory.'),
    ('vehicle.truck', 'Vehicles primarily designed to haul cargo including pick-ups, lorrys, trucks.'),
    ('vehicle.construction', 'Vehicles primarily designed for construction.'),
    ('vehicle.emergency.ambulance', 'All types of ambulances.'),
    ('vehicle.emergency.police', 'All types of police vehicles.'),
    ('vehicle.trailer', 'Any vehicle trailer, both for trucks, cars and bikes.'),
    ('movable_object.barrier', 'Temporary road barrier placed in the scene in order to redirect traffic.'),
    ('movable_object.trafficcone', 'All types of traffic cone.'),
    ('movable_object.pushable_pullable', 'Objects that a pedestrian may push or pull.'),
    ('movable_object.debris', 'Movable object that is left on the driveable surface.'),
    ('static_object.bicycle_rack', 'Area or device intended to park or secure the bicycles in a row.'),
)
ATTRIBUTES = (
    ('vehicle.moving', 'Vehicle is moving.'),
    ('vehicle.stopped', 'Vehicle, with a driver/rider in/on it, is currently stationary.'),
    ('vehicle.parked', 'Vehicle is stationary (usually for longer duration) with no immediate intent to move.'),
    ('cycle.with_rider', 'There is a rider on the bicycle or motorcycle.'),
    ('cycle.without_rider', 'There is NO rider on the bicycle or motorcycle.'),
    ('pedestrian.sitting_lying_down', 'The human is sitting or lying down.'),
    ('pedestrian.standing', 'The human is standing.'),
    ('pedestrian.moving', 'The human is moving.'),
)
VISIBILITIES = (
    ('1', 'v0-40', 'visibility of whole object is between 0 and 40%'),
    ('2', 'v40-60', 'visibility of whole object is between 40 and 60%'),
    ('3', 'v60-80', 'visibility of whole object is between 60 and 80%'),
    ('4', 'v80-100', 'visibility of whole object is between 80 and 100%'),
)


def token(*parts) -> str:
    """A deterministic 32-hex token (the nuScenes token format) from its parts."""
    return hashlib.md5('/'.join(str(p) for p in parts).encode()).hexdigest()


def static_tables(seed: int, cam_names, lidar_name: str = 'LIDAR_TOP') -> dict:
    return dict(
        category=[dict(token=token(seed, 'category', n), name=n, description=d) for n, d in CATEGORIES],
        attribute=[dict(token=token(seed, 'attribute', n), name=n, description=d) for n, d in ATTRIBUTES],
        visibility=[dict(token=t, level=lv, description=d) for t, lv, d in VISIBILITIES],
        sensor=[dict(token=token(seed, 'sensor', c), channel=c, modality='camera') for c in cam_names]
        + [dict(token=token(seed, 'sensor', lidar_name), channel=lidar_name, modality='lidar')],
    )


def scene_names(version: str, num_scenes: int) -> List[str]:
    """Official scene names for ``version`` so nuScenes' split lists apply; every 5th one is a val scene.

    v1.0-mini draws from ``mini_train`` / ``mini_val`` (10 scenes at most), v1.0-trainval from
    ``train`` / ``val`` (skipping scenes that have no CAN bus data in the real dataset), v1.0-test from
    ``test``.
    """
    if version == 'v1.0-mini':
        train, val = list(splits.mini_train), list(splits.mini_val)
    elif version == 'v1.0-trainval':
        no_can = {
            161,
            162,
            163,
            164,
            165,
            166,
            167,
            168,
            170,
            171,
            172,
            173,
            174,
            175,
            176,
            309,
            310,
            311,
            312,
            313,
            314,
        }
        train = [s for s in splits.train if int(s[-4:]) not in no_can]
        val = [s for s in splits.val if int(s[-4:]) not in no_can]
    elif version == 'v1.0-test':
        train, val = list(splits.test), []
    else:
        raise ValueError(f'unknown nuScenes version {version!r}; expected v1.0-mini, v1.0-trainval or v1.0-test')
    names, val_names = [], set(val)
    for i in range(num_scenes):
        pool = val if (i % 5 == 4 and val) or not train else train
        if not pool:
            raise ValueError(f'{version} has only {len(names)} official scene names, asked for {num_scenes} scenes')
        names.append(pool.pop(0))
    if num_scenes >= 2 and val and not val_names.intersection(names):
        names[-1] = val[0]  # keep a validation scene in small datasets
    return names
