# Copyright (c) mmautomot contributors. All rights reserved.
"""Where a route leaves its first junction, from the town's OpenDRIVE map (offline ``carla.Map``).

Used by the Traffic_Signs credit of the ability scores (:mod:`mmautomot.closed_loop.abilities`). Our
reading of "the route got past its first junction": the route is the polyline through its XML waypoints
(CARLA coordinates), sampled every ``step`` metres; each sample is projected on the nearest driving lane
of the map (``Map.get_waypoint(..., project_to_road=True)``); the first junction is the first run of
samples whose lane lies in a junction (``Waypoint.is_junction``) and its exit is the arc length of the
first sample after that run. The ego passed the junction when its completed distance, ``score_route`` %
of the polyline length, reaches that exit. The polyline is an approximation of the leaderboard's
interpolated route (which follows the lanes between the waypoints); route completion is a fraction of
the route, so only the fraction matters.

``carla`` is imported only here and only when a map is loaded (``pip install carla``; the 0.9.16 client
reads OpenDRIVE offline without a simulator).
"""

import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, Optional

import numpy as np


def route_waypoints_from_xml(xml_path: str) -> Dict[str, dict]:
    """``{route id: {'town': str, 'points': (N, 3) array}}`` from a leaderboard 2.0 routes XML."""
    out = {}
    for route in ET.parse(xml_path).getroot().iter('route'):
        pts = [[float(p.get('x')), float(p.get('y')), float(p.get('z', 0.0))] for p in route.iter('position')]
        out[str(route.get('id'))] = dict(town=route.get('town'), points=np.asarray(pts, dtype=np.float64))
    return out


def load_town_map(xodr_dir: str, town: str):
    """``carla.Map`` of ``town`` from ``<xodr_dir>/<town>.xodr`` (offline, no simulator)."""
    path = osp.join(xodr_dir, f'{town}.xodr')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: --xodr-dir must hold <Town>.xodr for every town of '
            "the routes (copy them from your CARLA install: find $CARLA_ROOT -name '*.xodr')"
        )
    try:
        import carla
    except ImportError as err:
        raise ImportError('the Traffic_Signs credit needs the carla client (pip install carla)') from err
    with open(path) as f:
        return carla.Map(town, f.read())


def densify(points: np.ndarray, step: float = 1.0) -> tuple:
    """Samples every ``step`` m along the polyline: ((M, 3) points, (M,) arc length)."""
    if len(points) < 2:
        return points, np.zeros(len(points))
    seg = np.linalg.norm(np.diff(points[:, :2], axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.append(np.arange(0.0, cum[-1], step), cum[-1])
    pts = np.stack([np.interp(s, cum, points[:, i]) for i in range(3)], axis=1)
    return pts, s


def first_junction_exit(carla_map, points: np.ndarray, step: float = 1.0) -> Optional[float]:
    """Fraction (0-1) of the route's length at which it leaves its first junction (None: no junction).

    A route that ends inside its first junction gives 1.0.
    """
    import carla

    pts, s = densify(np.asarray(points, dtype=np.float64), step)
    if len(s) < 2 or s[-1] <= 0:
        return None
    inside = []
    for x, y, z in pts:
        wp = carla_map.get_waypoint(
            carla.Location(x=float(x), y=float(y), z=float(z)), project_to_road=True, lane_type=carla.LaneType.Driving
        )
        inside.append(bool(wp is not None and wp.is_junction))
    inside = np.asarray(inside)
    if not inside.any():
        return None
    first = int(np.argmax(inside))
    after = np.flatnonzero(~inside[first:])
    return 1.0 if not len(after) else float(s[first + after[0]] / s[-1])
