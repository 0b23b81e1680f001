# Copyright (c) mmautomot contributors. All rights reserved.
"""Place the ego and the other agents of one synthetic scene on the road grid.

Scenes cycle through four scripted situations so that even a 1-scene dataset has a turn in it:
scene 0 turns left at the first junction, scene 1 drives straight behind a lead car that brakes to a
stop, scene 2 meets a pedestrian crossing before turning right, scene 3 starts from standstill behind
a slow lead car; later scenes mix these at random. Every scene also has oncoming and crossing traffic,
parked cars, pedestrians on the sidewalks and a few traffic cones / barriers.
"""

from typing import List

import numpy as np

from .simulation import Agent
from .world import LANE_WIDTH, PARKING_OFFSET, SIDEWALK_OFFSET, Polyline, RoadGrid

EGO_WLH = (1.85, 4.084, 1.56)
EGO_FRONT = 3.0  # rear axle (ego_pose origin) to front bumper, metres
CAR_COLORS = [
    (40, 40, 200),
    (200, 60, 40),
    (230, 230, 230),
    (30, 30, 30),
    (40, 160, 60),
    (0, 200, 230),
    (140, 140, 140),
    (120, 40, 120),
]

SCRIPTS = (
    dict(turn='left', lead=None, ped_cross=False, v0=6.0, start=(14.0, 18.0)),
    dict(turn='straight', lead='brake', ped_cross=False, v0=8.0, start=(30.0, 40.0)),
    dict(turn='right', lead=None, ped_cross=True, v0=8.0, start=(42.0, 46.0)),
    dict(turn='straight', lead='slow', ped_cross=False, v0=0.0, start=(25.0, 35.0)),
)


def _vehicle(rng, path: Polyline, s0: float, v0: float, v_des: float, truck: bool = False, **kw) -> Agent:
    if truck:
        wlh = (2.5, rng.uniform(6.5, 8.5), rng.uniform(2.8, 3.4))
        color = (60, 90, 120)
    else:
        wlh = (rng.uniform(1.75, 2.0), rng.uniform(4.2, 4.9), rng.uniform(1.45, 1.75))
        color = CAR_COLORS[rng.integers(len(CAR_COLORS))]
    return Agent(
        kind='vehicle',
        category='vehicle.truck' if truck else 'vehicle.car',
        wlh=tuple(float(x) for x in wlh),
        path=path,
        s0=s0,
        v0=v0,
        v_des=v_des,
        color=tuple(int(c) for c in color),
        **kw,
    )


def _pedestrian(rng, path: Polyline, s0: float, speed: float) -> Agent:
    wlh = (rng.uniform(0.55, 0.75), rng.uniform(0.6, 0.8), rng.uniform(1.6, 1.9))
    color = [(60, 60, 160), (160, 80, 40), (40, 120, 160), (90, 90, 90)][rng.integers(4)]
    return Agent(
        kind='pedestrian',
        category='human.pedestrian.adult',
        wlh=tuple(map(float, wlh)),
        path=path,
        s0=s0,
        v0=speed,
        v_des=speed,
        color=color,
    )


def _offset_line(a: np.ndarray, b: np.ndarray, lateral: float, s_from: float, s_to: float) -> Polyline:
    d = (b - a) / np.linalg.norm(b - a)
    n = np.array([-d[1], d[0]])
    return Polyline(np.array([a + d * s_from + n * lateral, a + d * s_to + n * lateral]))


def build_scene(grid: RoadGrid, rng: np.random.Generator, scene_idx: int) -> List[Agent]:
    """The agents of one scene; index 0 is the ego. Deterministic given ``rng``'s state."""
    script = (
        dict(SCRIPTS[scene_idx])
        if scene_idx < len(SCRIPTS)
        else dict(
            turn=['left', 'straight', 'right'][rng.integers(3)],
            lead=[None, 'brake', 'slow', 'cruise'][rng.integers(4)],
            ped_cross=bool(rng.random() < 0.3),
            v0=float(rng.choice([0.0, 5.0, 8.0, 10.0])),
            start=(15.0, 45.0),
        )
    )
    # the first junction is an interior one so every turn is possible
    inner = rng.integers(1, grid.n - 1, size=2)
    d = [(1, 0), (-1, 0), (0, 1), (0, -1)][rng.integers(4)]
    first = tuple(int(x) for x in inner)
    start = (first[0] - d[0], first[1] - d[1])
    route = grid.random_route(rng, start, first, turns=[script['turn']])
    ego_path = grid.lane_path(route)
    dist_to_junction = rng.uniform(*script['start'])
    s_ego = grid.spacing - dist_to_junction
    ego = Agent(
        kind='ego',
        category='',
        wlh=EGO_WLH,
        path=ego_path,
        s0=s_ego,
        v0=script['v0'],
        v_des=float(rng.uniform(9.0, 11.0)),
        front=EGO_FRONT,
        color=(0, 0, 0),
    )
    agents = [ego]
    if script['lead'] is not None:
        gap = rng.uniform(14.0, 22.0) if script['lead'] != 'slow' else rng.uniform(9.0, 12.0)
        v_lead = dict(brake=8.0, slow=4.0, cruise=7.0)[script['lead']]
        brake = (rng.uniform(0.5, 1.5), rng.uniform(4.0, 5.0)) if script['lead'] == 'brake' else None
        agents.append(_vehicle(rng, ego_path, s_ego + gap, min(script['v0'], v_lead), v_lead, brake=brake))
    # oncoming traffic on the ego's first road and traffic crossing the first junction
    for k in range(int(rng.integers(1, 3))):
        back = grid.random_route(rng, first, start, min_len=240.0)
        back = (
            [tuple(np.subtract(2 * np.array(first), start))] + back
            if grid.inside(tuple(np.subtract(2 * np.array(first), start)))
            else back
        )
        path = grid.lane_path(back)
        agents.append(
            _vehicle(
                rng,
                path,
                rng.uniform(5.0, 45.0) + 15.0 * k,
                8.0,
                rng.uniform(7.0, 10.0),
                truck=bool(rng.random() < 0.25),
            )
        )
    side = (first[0] + d[1], first[1] - d[0])
    for src in (side, (first[0] - d[1], first[1] + d[0]))[: int(rng.integers(1, 3))]:
        if not grid.inside(src):
            continue
        path = grid.lane_path(grid.random_route(rng, src, first, min_len=240.0))
        agents.append(
            _vehicle(rng, path, rng.uniform(5.0, 35.0), 7.0, rng.uniform(7.0, 10.0), truck=bool(rng.random() < 0.2))
        )
    a_xy, b_xy = grid.node_xy(start), grid.node_xy(first)
    # parked cars on both sides of the ego's first road, clear of the junctions
    for _ in range(int(rng.integers(2, 5))):
        along = rng.uniform(10.0, grid.spacing - 12.0)
        lateral = -PARKING_OFFSET if rng.random() < 0.5 else PARKING_OFFSET
        line = _offset_line(a_xy, b_xy, lateral, along, along + 1.0)
        p, h = line.interp(0.0)
        yaw = float(h) if lateral < 0 else float(h) + np.pi
        car = _vehicle(rng, None, 0.0, 0.0, 0.0, pose=(float(p[0]), float(p[1]), yaw))
        car.kind = 'static'
        agents.append(car)
    # pedestrians on the sidewalks
    for _ in range(int(rng.integers(2, 5))):
        lateral = SIDEWALK_OFFSET * (1 if rng.random() < 0.5 else -1) + rng.uniform(-0.8, 0.8)
        along = rng.uniform(8.0, grid.spacing - 28.0)  # stays on this block
        line = _offset_line(a_xy, b_xy, lateral, along, along + 20.0)
        if rng.random() < 0.5:
            line = Polyline(line.points[::-1])
        agents.append(_pedestrian(rng, line, 0.0, 0.0 if rng.random() < 0.3 else rng.uniform(1.0, 1.6)))
    if script['ped_cross']:
        along = s_ego + rng.uniform(28.0, 32.0)
        d_road = (b_xy - a_xy) / np.linalg.norm(b_xy - a_xy)
        left = np.array([-d_road[1], d_road[0]])
        p0 = a_xy + d_road * along - left * SIDEWALK_OFFSET  # on the ego's (right) sidewalk
        p1 = p0 + left * 2 * SIDEWALK_OFFSET
        cross = Polyline(np.array([p0, p1, p1 + d_road * 10.0]))
        agents.append(_pedestrian(rng, cross, 1.0, 1.4))
    # traffic cones and barriers at the kerb
    for _ in range(int(rng.integers(1, 4))):
        along = rng.uniform(8.0, grid.spacing - 8.0)
        lateral = (LANE_WIDTH + 2.8) * (1 if rng.random() < 0.5 else -1)
        p, h = _offset_line(a_xy, b_xy, lateral, along, along + 1.0).interp(0.0)
        if rng.random() < 0.6:
            agents.append(
                Agent(
                    kind='static',
                    category='movable_object.trafficcone',
                    wlh=(0.4, 0.4, 0.75),
                    pose=(float(p[0]), float(p[1]), float(h)),
                    color=(0, 120, 255),
                )
            )
        else:
            agents.append(
                Agent(
                    kind='static',
                    category='movable_object.barrier',
                    wlh=(0.5, 2.2, 1.0),
                    pose=(float(p[0]), float(p[1]), float(h)),
                    color=(200, 200, 220),
                )
            )
    return agents
