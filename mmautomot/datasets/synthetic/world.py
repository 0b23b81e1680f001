# Copyright (c) mmautomot contributors. All rights reserved.
"""The static world of the synthetic nuScenes dataset: a grid of two-lane roads with junctions.

Global frame: x east, y north, z up, metres; the map covers ``[0, size] x [0, size]`` so the map mask
PNG (0.1 m / pixel, row 0 = north edge) lines up with nuScenes' ``MapMask`` convention. Traffic drives
on the right. Each road has, from its centre line outwards: one 3.5 m lane per direction, a 2.5 m
parking strip and a 3 m sidewalk.
"""

from typing import List, Sequence, Tuple

import cv2
import numpy as np

LANE_WIDTH = 3.5
ROAD_HALF_WIDTH = 6.0  # lane + parking strip
SIDEWALK_WIDTH = 3.0
PARKING_OFFSET = 4.9  # lateral offset of parked cars from the road centre line
SIDEWALK_OFFSET = 7.5  # lateral offset of walking pedestrians
TURN_RADIUS = dict(left=8.5, right=5.0)

# Ground surface ids (used for colours and LiDAR intensities).
GRASS, SIDEWALK, ROAD, MARKING_WHITE, MARKING_YELLOW = range(5)


def _left(d: np.ndarray) -> np.ndarray:
    return np.array([-d[1], d[0]])


class Polyline:
    """A dense 2D path parameterised by arc length.

    Args:
        points (np.ndarray): (N, 2) vertices in the global frame, metres.
        is_turn (np.ndarray, optional): (N,) bool, True on junction arcs (vehicles slow down there).
    """

    def __init__(self, points: np.ndarray, is_turn: np.ndarray = None):
        pts = np.asarray(points, dtype=np.float64)
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-6
        self.points = pts[keep]
        self.is_turn = (np.zeros(len(pts), bool) if is_turn is None else np.asarray(is_turn))[keep]
        seg = np.diff(self.points, axis=0)
        self.s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(seg, axis=1))])
        heading = np.arctan2(seg[:, 1], seg[:, 0])
        self.heading = np.concatenate([heading, heading[-1:]])

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def interp(self, s) -> Tuple[np.ndarray, np.ndarray]:
        """Positions (..., 2) and headings (...) at arc lengths ``s`` (clamped to the path)."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length)
        x = np.interp(s, self.s, self.points[:, 0])
        y = np.interp(s, self.s, self.points[:, 1])
        idx = np.clip(np.searchsorted(self.s, s, side='right') - 1, 0, len(self.s) - 1)
        return np.stack([x, y], axis=-1), self.heading[idx]


class RoadGrid:
    """A square grid of ``n x n`` junctions ``spacing`` metres apart with ``margin`` around it.

    Args:
        n (int): junctions per side. Defaults to 5.
        spacing (float): distance between neighbouring junctions, metres. Defaults to 60.
        margin (float): map border beyond the outer roads, metres. Defaults to 30.
    """

    def __init__(self, n: int = 5, spacing: float = 60.0, margin: float = 30.0):
        self.n, self.spacing, self.margin = n, spacing, margin
        self.size = 2 * margin + (n - 1) * spacing
        self.coords = margin + spacing * np.arange(n)

    def node_xy(self, node: Sequence[int]) -> np.ndarray:
        return np.array([self.coords[node[0]], self.coords[node[1]]])

    def inside(self, node: Sequence[int]) -> bool:
        return 0 <= node[0] < self.n and 0 <= node[1] < self.n

    def next_nodes(self, prev: Tuple[int, int], cur: Tuple[int, int]) -> dict:
        """Reachable junctions after ``cur`` coming from ``prev``: ``{'left'|'straight'|'right': node}``."""
        d = np.subtract(cur, prev)
        options = dict(
            straight=tuple(np.add(cur, d)),
            left=tuple(np.add(cur, (-d[1], d[0]))),
            right=tuple(np.add(cur, (d[1], -d[0]))),
        )
        return {k: v for k, v in options.items() if self.inside(v)}

    def random_route(
        self,
        rng: np.random.Generator,
        start: Tuple[int, int],
        first: Tuple[int, int],
        turns: Sequence[str] = (),
        min_len: float = 300.0,
    ) -> List[Tuple[int, int]]:
        """A junction sequence starting ``start -> first``; forced ``turns`` first, then random ones."""
        route = [tuple(start), tuple(first)]
        turns = list(turns)
        while (len(route) - 1) * self.spacing < min_len:
            options = self.next_nodes(route[-2], route[-1])
            want = turns.pop(0) if turns else None
            if want not in options:
                keys = sorted(options)
                probs = np.array([0.5 if k == 'straight' else 0.25 for k in keys])
                want = keys[rng.choice(len(keys), p=probs / probs.sum())]
            route.append(options[want])
        return route

    def lane_path(self, route: Sequence[Tuple[int, int]], step: float = 0.25) -> Polyline:
        """The right-hand lane centre line along a junction route, with circular arcs at turns."""
        pts, turn = [], []
        nodes = [self.node_xy(r) for r in route]
        d_first = (nodes[1] - nodes[0]) / np.linalg.norm(nodes[1] - nodes[0])
        off = LANE_WIDTH / 2
        cursor = nodes[0] - _left(d_first) * off

        def line_to(p):
            nonlocal cursor
            k = max(int(np.ceil(np.linalg.norm(p - cursor) / step)), 1)
            t = np.linspace(0, 1, k + 1)[1:, None]
            pts.extend(cursor + t * (p - cursor))
            turn.extend([False] * k)
            cursor = p

        pts.append(cursor)
        turn.append(False)
        for i in range(1, len(nodes) - 1):
            d_in = (nodes[i] - nodes[i - 1]) / self.spacing
            d_out = (nodes[i + 1] - nodes[i]) / self.spacing
            cross = d_in[0] * d_out[1] - d_in[1] * d_out[0]
            if abs(cross) < 1e-6:
                continue
            radius = TURN_RADIUS['left' if cross > 0 else 'right']
            q = nodes[i] - _left(d_in) * off - _left(d_out) * off
            a = q - d_in * radius
            line_to(a)
            center = a + d_out * radius
            theta = np.linspace(0, np.pi / 2, max(int(np.pi / 2 * radius / step), 4) + 1)[1:, None]
            arc = center + np.cos(theta) * (a - center) + np.sin(theta) * d_in * radius
            pts.extend(arc)
            turn.extend([True] * len(arc))
            cursor = arc[-1]
        d_last = (nodes[-1] - nodes[-2]) / self.spacing
        line_to(nodes[-1] - _left(d_last) * off)
        return Polyline(np.array(pts), np.array(turn))

    # ------------------------------------------------------------------ geometry for sensors
    def road_segments(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        """Every road stretch between neighbouring junctions as (start, end) centre-line points."""
        segs = []
        for i in range(self.n):
            for j in range(self.n - 1):
                segs.append((self.node_xy((i, j)), self.node_xy((i, j + 1))))
                segs.append((self.node_xy((j, i)), self.node_xy((j + 1, i))))
        return segs

    def ground_polygons(self, center: np.ndarray, radius: float) -> Tuple[np.ndarray, np.ndarray]:
        """Ground-plane quads near ``center`` in drawing order: surface ids (P,), xy vertices (P, 4, 2)."""
        if not hasattr(self, '_quads'):
            surf, quads = zip(*self._all_quads())
            self._quads = np.array(quads)
            self._surf = np.array(surf)
            self._quad_c = self._quads.mean(1)
            self._quad_r = np.linalg.norm(self._quads - self._quad_c[:, None], axis=2).max(1)
        c = np.asarray(center, dtype=np.float64)[:2]
        keep = np.linalg.norm(self._quad_c - c, axis=1) - self._quad_r < radius
        grass = c + radius * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
        return (np.concatenate([[GRASS], self._surf[keep]]), np.concatenate([grass[None], self._quads[keep]]))

    def _all_quads(self) -> List[Tuple[int, np.ndarray]]:
        out = []
        near = self.road_segments()
        h = ROAD_HALF_WIDTH
        for width, surf in ((h + SIDEWALK_WIDTH, SIDEWALK), (h, ROAD)):
            for a, b in near:
                out.append((surf, _rect(a, b, -width, width, extend=width)))
        junction = h + 0.5  # markings stop before the junction box
        for a, b in near:
            d = (b - a) / np.linalg.norm(b - a)
            a2, b2 = a + d * junction, b - d * junction
            out.append((MARKING_YELLOW, _rect(a2, b2, -0.25, -0.1)))
            out.append((MARKING_YELLOW, _rect(a2, b2, 0.1, 0.25)))
            out.append((MARKING_WHITE, _rect(a2, b2, LANE_WIDTH - 0.08, LANE_WIDTH + 0.08)))
            out.append((MARKING_WHITE, _rect(a2, b2, -LANE_WIDTH - 0.08, -LANE_WIDTH + 0.08)))
            for sgn in (-1, 1):  # stop lines at both ends, on the incoming lane
                p, q = (b2, b2 - d * 0.4) if sgn > 0 else (a2, a2 + d * 0.4)
                out.append((MARKING_WHITE, _rect(p, q, 0.3, LANE_WIDTH - 0.1)))
        return out

    def surface_at(self, xy: np.ndarray) -> np.ndarray:
        """Ground surface id at (N, 2) global points (for LiDAR intensities)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        # distance to the nearest road centre line (roads are the grid lines x = c_i, y = c_j)
        dx = np.min(np.abs(xy[:, :1] - self.coords[None]), axis=1)
        dy = np.min(np.abs(xy[:, 1:] - self.coords[None]), axis=1)
        lo, hi = self.coords[0] - ROAD_HALF_WIDTH, self.coords[-1] + ROAD_HALF_WIDTH
        in_x = (xy[:, 1] >= lo) & (xy[:, 1] <= hi)  # along a north-south road
        in_y = (xy[:, 0] >= lo) & (xy[:, 0] <= hi)
        d_ns = np.where(in_x, dx, np.inf)
        d_ew = np.where(in_y, dy, np.inf)
        d = np.minimum(d_ns, d_ew)
        in_junction = (dx < ROAD_HALF_WIDTH + 0.5) & (dy < ROAD_HALF_WIDTH + 0.5)
        surf = np.full(len(xy), GRASS)
        surf[d < ROAD_HALF_WIDTH + SIDEWALK_WIDTH] = SIDEWALK
        surf[d < ROAD_HALF_WIDTH] = ROAD
        line = ~in_junction & ((np.abs(d - LANE_WIDTH) < 0.08) | ((d > 0.1) & (d < 0.25)))
        surf[line & (d < 0.3)] = MARKING_YELLOW
        surf[line & (d >= 0.3)] = MARKING_WHITE
        return surf

    def map_mask(self, resolution: float = 0.1) -> np.ndarray:
        """The drivable-area semantic prior (uint8, 255 on roads) in nuScenes' MapMask layout."""
        px = int(round(self.size / resolution))
        img = np.zeros((px, px), np.uint8)
        for a, b in self.road_segments():
            poly = _rect(a, b, -ROAD_HALF_WIDTH, ROAD_HALF_WIDTH, extend=ROAD_HALF_WIDTH)
            uv = np.stack([poly[:, 0] / resolution, px - poly[:, 1] / resolution], axis=1)
            cv2.fillPoly(img, [np.round(uv).astype(np.int32)], 255)
        return img


def _rect(a: np.ndarray, b: np.ndarray, lat0: float, lat1: float, extend: float = 0.0) -> np.ndarray:
    """The strip between lateral offsets ``lat0 < lat1`` (left positive) along segment a -> b."""
    d = (b - a) / np.linalg.norm(b - a)
    n = _left(d)
    a, b = a - d * extend, b + d * extend
    return np.array([a + n * lat0, b + n * lat0, b + n * lat1, a + n * lat1])
