# Copyright (c) mmautomot contributors. All rights reserved.
"""Map features and traffic lights of MetaDrive ``ScenarioDescription`` scenes (no MetaDrive import).

:func:`grid_map_features` turns the synthetic dataset's road grid (:class:`~mmautomot.datasets.synthetic.RoadGrid`,
the map every synthetic nuScenes scene is driven on) into ScenarioNet map features in the global frame:

* ``LANE_SURFACE_STREET`` lanes with ``polyline`` (centre line) and ``polygon``: one per direction on every
  road between two junction boxes, and junction connectors (straight, left and right turns, the exact arcs
  :meth:`RoadGrid.lane_path` drives), each ``LANE_WIDTH`` wide;
* ``ROAD_LINE_SOLID_DOUBLE_YELLOW`` centre lines and ``ROAD_EDGE_BOUNDARY`` road edges between junctions.

Lane ids: ``lane_<i>_<j>_<k>_<l>`` (road lane from node (i, j) to node (k, l)) and
``conn_<i>_<j>_<turn>_<dx>_<dy>`` (junction (i, j), entered heading (dx, dy)).

:func:`light_cycle_states` is the documented option for red lights on maps whose data carry no light
states (our synthetic scenes): a fixed-time signal at the stop line of every road lane that ends at a
junction with a crossing road, east-west and north-south approaches in opposite phases. Replayed agents
follow their recorded tracks and ignore these lights; the ego is scored against them.
"""

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: half size (m) of the square junction box around a grid node: the turn arcs of ``RoadGrid.lane_path``
#: start and end exactly 6.75 m from the node (lane offset 1.75 m, turn radii 5 / 8.5 m).
JUNCTION_HALF = 6.75
#: MetaDrive lane states of a fixed-time signal.
GO, CAUTION, STOP = 'LANE_STATE_GO', 'LANE_STATE_CAUTION', 'LANE_STATE_STOP'


def _offset(points: np.ndarray, lateral: float) -> np.ndarray:
    """Points shifted ``lateral`` metres to the left (+) of the polyline's direction."""
    d = np.gradient(points, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    return points + lateral * np.stack([-d[:, 1], d[:, 0]], axis=1)


def lane_polygon(centre: np.ndarray, width: float) -> np.ndarray:
    """(2N, 2) polygon of a lane ``width`` wide around its (N, 2) centre line."""
    return np.concatenate([_offset(centre, width / 2), _offset(centre, -width / 2)[::-1]], axis=0)


def _lane(centre: np.ndarray, width: float) -> dict:
    centre = np.asarray(centre, dtype=np.float64)
    return dict(
        type='LANE_SURFACE_STREET',
        polyline=np.column_stack([centre, np.zeros(len(centre))]),
        polygon=lane_polygon(centre, width),
        width=np.full(len(centre), float(width)),
        speed_limit_kmh=50.0,
    )


def _line(points: np.ndarray, kind: str) -> dict:
    pts = np.asarray(points, dtype=np.float64)
    return dict(type=kind, polyline=np.column_stack([pts, np.zeros(len(pts))]))


def _in_box(points: np.ndarray, centre: np.ndarray, half: float) -> np.ndarray:
    return np.all(np.abs(points - centre) <= half + 1e-6, axis=1)


def _tag(node) -> str:
    return f'{int(node[0])}_{int(node[1])}'


def grid_map_features(grid=None, step: float = 1.0) -> Tuple[Dict[str, dict], Dict[str, dict]]:
    """ScenarioNet map features of the synthetic road grid (global frame, metres).

    Args:
        grid (RoadGrid, optional): the grid. Defaults to ``RoadGrid()``, the one the dataset generator uses.
        step (float): spacing of the polyline points, metres. Defaults to 1.

    Returns:
        tuple: ``(features, stop_lanes)``: feature id -> feature dict, and for every road lane that ends at
        a junction with a crossing road ``lane id -> dict(stop_point (3,), axis 'x' | 'y')`` (where
        :func:`light_cycle_states` puts its lights).
    """
    from mmautomot.datasets.synthetic.world import LANE_WIDTH, ROAD_HALF_WIDTH, RoadGrid

    grid = grid or RoadGrid()
    half = JUNCTION_HALF
    feats: Dict[str, dict] = {}
    stops: Dict[str, dict] = {}
    n = grid.n
    nodes = [(i, j) for i in range(n) for j in range(n)]
    dirs = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    for node in nodes:
        for d in dirs:
            nxt = (node[0] + d[0], node[1] + d[1])
            if not grid.inside(nxt):
                continue
            a, b = grid.node_xy(node), grid.node_xy(nxt)
            dvec = np.asarray(d, dtype=np.float64)
            right = np.array([dvec[1], -dvec[0]]) * LANE_WIDTH / 2
            behind = (node[0] - d[0], node[1] - d[1])
            # a dead end (no road behind): the lane also crosses the start node's box
            s0 = 0.0 if not grid.inside(behind) else half
            s1 = np.linalg.norm(b - a) - half
            s = np.linspace(s0, s1, max(2, int(np.ceil((s1 - s0) / step)) + 1))
            path = a + right + s[:, None] * dvec
            lid = f'lane_{_tag(node)}_{_tag(nxt)}'
            feats[lid] = _lane(path, LANE_WIDTH)
            crossing = any(grid.inside((nxt[0] + s * d[1], nxt[1] + s * d[0])) for s in (-1, 1))
            if crossing:
                end = feats[lid]['polyline'][-1]
                stops[lid] = dict(stop_point=np.array([end[0], end[1], 0.0]), axis='x' if d[0] else 'y')
            if d in ((1, 0), (0, 1)):  # one centre line and two edges per road
                left = np.array([-dvec[1], dvec[0]])
                s = np.arange(half, np.linalg.norm(b - a) - half + 1e-6, step)
                base = a + s[:, None] * dvec
                rid = f'road_{_tag(node)}_{_tag(nxt)}'
                feats[f'{rid}_centre'] = _line(base, 'ROAD_LINE_SOLID_DOUBLE_YELLOW')
                feats[f'{rid}_edge_l'] = _line(base + ROAD_HALF_WIDTH * left, 'ROAD_EDGE_BOUNDARY')
                feats[f'{rid}_edge_r'] = _line(base - ROAD_HALF_WIDTH * left, 'ROAD_EDGE_BOUNDARY')
    for node in nodes:
        for d in dirs:
            prev = (node[0] - d[0], node[1] - d[1])
            if not grid.inside(prev):
                continue
            for turn, nxt in grid.next_nodes(prev, node).items():
                c = grid.node_xy(node)
                if turn == 'straight':  # exactly box edge to box edge
                    dvec = np.asarray(d, dtype=np.float64)
                    right = np.array([dvec[1], -dvec[0]]) * LANE_WIDTH / 2
                    inside = c + right + np.linspace(-half, half, int(2 * half / step) + 2)[:, None] * dvec
                else:  # the arc RoadGrid.lane_path drives (it starts and ends on the box edges)
                    path = grid.lane_path([prev, node, nxt], step=step).points
                    inside = path[_in_box(path, c, half)]
                if len(inside) >= 2:
                    feats[f'conn_{_tag(node)}_{turn}_{d[0]}_{d[1]}'] = _lane(inside, LANE_WIDTH)
    return feats, stops


def light_cycle_states(
    stop_lanes: Dict[str, dict],
    ts: np.ndarray,
    cycle: Sequence[float] = (10.0, 2.0),
    offset_s: float = 0.0,
    lanes: Optional[Sequence[str]] = None,
) -> Dict[str, dict]:
    """Fixed-time traffic lights as ScenarioNet ``dynamic_map_states`` (one per stop lane).

    Args:
        stop_lanes (dict): lane id -> ``dict(stop_point (3,), axis)`` (from :func:`grid_map_features`).
        ts (np.ndarray): (T,) scenario time stamps, seconds.
        cycle (tuple): ``(green_s, yellow_s)``; red lasts ``green_s + yellow_s`` (the crossing road's green
            and yellow), so the period is ``2 * (green_s + yellow_s)``. Defaults to (10, 2).
        offset_s (float): time into the cycle at ``ts[0]`` of the east-west (``axis == 'x'``) approaches;
            north-south approaches run half a period later. Defaults to 0 (east-west starts green).
        lanes (list[str], optional): only these lanes get lights. Defaults to all stop lanes.

    Returns:
        dict: lane id -> ``dict(type='TRAFFIC_LIGHT', stop_point, lane, state=dict(object_state (T,)),
        metadata)``.
    """
    green, yellow = float(cycle[0]), float(cycle[1])
    if green <= 0 or yellow < 0:
        raise ValueError(f'light cycle (green_s, yellow_s) must be positive, got {tuple(cycle)}')
    period = 2 * (green + yellow)
    out = {}
    for lid, info in stop_lanes.items():
        if lanes is not None and lid not in lanes:
            continue
        shift = offset_s + (period / 2) * (info['axis'] == 'y')
        phase = np.mod(np.asarray(ts, dtype=np.float64) - ts[0] + shift, period)
        states = [GO if p < green else CAUTION if p < green + yellow else STOP for p in phase]
        out[lid] = dict(
            type='TRAFFIC_LIGHT',
            stop_point=np.asarray(info['stop_point'], dtype=np.float64),
            lane=lid,
            state=dict(object_state=states),
            metadata=dict(type='TRAFFIC_LIGHT', object_id=lid, track_length=len(states), dataset='mmautomot'),
        )
    return out
