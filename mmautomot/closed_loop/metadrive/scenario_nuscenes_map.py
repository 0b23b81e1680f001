# Copyright (c) mmautomot contributors. All rights reserved.
"""ScenarioNet map features of real nuScenes scenes from the devkit's map expansion (``NuScenesMap``).

Needs nuscenes-devkit and the map expansion (``<dataroot>/maps/expansion/<location>.json``, v1.3). Around a
scene (a square of ``radius`` around its ego track) :func:`nuscenes_map_features` takes:

* lanes and lane connectors: centre lines from ``discretize_lanes`` (arcline paths), polygons from their
  ``polygon_token`` -> ``LANE_SURFACE_STREET``;
* road dividers -> ``ROAD_LINE_SOLID_SINGLE_YELLOW``, lane dividers -> ``ROAD_LINE_BROKEN_SINGLE_WHITE``;
* the exterior rings of the drivable area -> ``ROAD_EDGE_BOUNDARY``; pedestrian crossings -> ``CROSSWALK``;
* stop lines of type ``TRAFFIC_LIGHT``: the lane whose centre line enters the stop line polygon gets a stop
  point where it does (``axis`` = the lane's dominant direction, for :func:`~.scenario_map.light_cycle_states`).
  nuScenes has no light states, so lights come only from that fixed-time option.

:func:`scene_locations` reads each scene's map location from the nuScenes tables (``scene.json``,
``log.json``) with the standard library.
"""

import json
import os.path as osp
from typing import Dict, Tuple

import numpy as np

from .scenario_map import _lane, _line


def scene_locations(data_root: str, version: str) -> Dict[str, str]:
    """scene token -> map location (``singapore-onenorth``, ``boston-seaport``, ...) from the tables."""
    tables = {}
    for name in ('scene', 'log'):
        path = osp.join(data_root, version, f'{name}.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: nuScenes table not found (data_root / version wrong?)')
        with open(path) as f:
            tables[name] = {r['token']: r for r in json.load(f)}
    return {tok: tables['log'][s['log_token']]['location'] for tok, s in tables['scene'].items()}


def _coords(geom) -> np.ndarray:
    ring = geom.exterior if geom.geom_type == 'Polygon' else geom  # a LineString has its own coordinates
    return np.asarray(ring.coords, dtype=np.float64)[:, :2]


def nuscenes_map_features(
    nusc_map, centre, radius: float = 100.0, resolution: float = 1.0
) -> Tuple[Dict[str, dict], Dict[str, dict]]:
    """Map features of a ``NuScenesMap`` within the square of half size ``radius`` around ``centre``.

    Args:
        nusc_map (NuScenesMap): the devkit's map of the scene's location.
        centre (tuple): (x, y) global metres.
        radius (float): half size of the square, metres. Defaults to 100.
        resolution (float): lane centre-line spacing, metres. Defaults to 1.

    Returns:
        tuple: ``(features, stop_lanes)`` as :func:`~.scenario_map.grid_map_features` returns them.
    """
    x, y = float(centre[0]), float(centre[1])
    layers = ['lane', 'lane_connector', 'road_divider', 'lane_divider', 'drivable_area', 'ped_crossing', 'stop_line']
    recs = nusc_map.get_records_in_radius(x, y, radius, layers)
    feats: Dict[str, dict] = {}
    lane_tokens = list(recs.get('lane', [])) + list(recs.get('lane_connector', []))
    poses = nusc_map.discretize_lanes(lane_tokens, resolution)
    centres = {}
    for layer in ('lane', 'lane_connector'):
        for tok in recs.get(layer, []):
            pts = np.asarray(poses.get(tok, []), dtype=np.float64).reshape(-1, 3)
            if len(pts) < 2:
                continue
            rec = nusc_map.get(layer, tok)
            feat = _lane(pts[:, :2], 3.5)
            feat['polygon'] = _coords(nusc_map.extract_polygon(rec['polygon_token']))
            feats[tok] = feat
            centres[tok] = pts
    for layer, kind in (
        ('road_divider', 'ROAD_LINE_SOLID_SINGLE_YELLOW'),
        ('lane_divider', 'ROAD_LINE_BROKEN_SINGLE_WHITE'),
    ):
        for tok in recs.get(layer, []):
            line = _coords(nusc_map.extract_line(nusc_map.get(layer, tok)['line_token']))
            if len(line) >= 2:
                feats[tok] = _line(line, kind)
    for tok in recs.get('drivable_area', []):
        for i, ptok in enumerate(nusc_map.get('drivable_area', tok)['polygon_tokens']):
            feats[f'{tok}_edge{i}'] = _line(_coords(nusc_map.extract_polygon(ptok)), 'ROAD_EDGE_BOUNDARY')
    for tok in recs.get('ped_crossing', []):
        poly = _coords(nusc_map.extract_polygon(nusc_map.get('ped_crossing', tok)['polygon_token']))
        feats[tok] = dict(type='CROSSWALK', polygon=poly)
    stops: Dict[str, dict] = {}
    from shapely.geometry import Point

    for tok in recs.get('stop_line', []):
        rec = nusc_map.get('stop_line', tok)
        if rec.get('stop_line_type') != 'TRAFFIC_LIGHT':
            continue
        poly = nusc_map.extract_polygon(rec['polygon_token'])
        for lane_tok, pts in centres.items():
            inside = [i for i, p in enumerate(pts) if poly.covers(Point(p[0], p[1]))]
            if not inside or inside[0] == 0 or lane_tok in stops:  # must enter the stop line, not start in it
                continue
            p = pts[inside[0]]
            axis = 'x' if abs(np.cos(p[2])) >= abs(np.sin(p[2])) else 'y'
            stops[lane_tok] = dict(stop_point=np.array([p[0], p[1], 0.0]), axis=axis)
    return feats, stops
