# Copyright (c) mmautomot contributors. All rights reserved.
"""Traffic simulation for the synthetic nuScenes dataset.

Vehicles (the ego included) follow their lane paths with the Intelligent Driver Model (IDM, Treiber
et al., "Congested traffic states in empirical observations and microscopic simulations", 2000):
they keep a desired speed, slow down before junction arcs, keep a time gap to anything on their path
(vehicles, crossing pedestrians) and wait at a junction's entry while a vehicle from another road is
inside it. Pedestrians walk their paths at constant speed and do not yield. Static objects stay put.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .world import ROAD_HALF_WIDTH, Polyline

# IDM parameters
A_MAX, B_COMF, B_MAX, S0, TIME_GAP = 2.0, 2.0, 6.0, 2.0, 1.2
V_TURN = 4.5  # m/s on junction arcs
LOOKAHEAD = 40.0


@dataclass
class Agent:
    """One simulated object.

    Args:
        kind (str): 'ego', 'vehicle', 'pedestrian' or 'static'.
        category (str): nuScenes category name (the ego has none).
        wlh (tuple): width, length, height in metres (nuScenes order).
        path (Polyline, optional): what moving agents follow; the reference point (box centre, or the
            rear axle for the ego) moves along it.
        s0 (float): start arc length on ``path``.
        v0 (float): start speed, m/s.
        v_des (float): desired speed, m/s.
        brake (tuple, optional): ``(t_start, t_end)`` seconds during which the desired speed is 0.
        pose (tuple, optional): (x, y, yaw) of a static agent.
        front (float): distance from the reference point to the front, metres (default l/2).
        color (tuple): BGR render colour.
    """

    kind: str
    category: str
    wlh: Tuple[float, float, float]
    path: Optional[Polyline] = None
    s0: float = 0.0
    v0: float = 0.0
    v_des: float = 0.0
    brake: Optional[Tuple[float, float]] = None
    pose: Optional[Tuple[float, float, float]] = None
    front: Optional[float] = None
    color: Tuple[int, int, int] = (128, 128, 128)
    junctions: List[Tuple[float, float, int]] = field(default_factory=list)

    def __post_init__(self):
        if self.front is None:
            self.front = self.wlh[1] / 2


@dataclass
class Trajectories:
    """Simulated states at times ``t`` (T,): ``xy`` (T, A, 2), ``yaw`` (T, A), ``speed`` (T, A),
    ``acc`` (T, A) longitudinal acceleration. Positions are the agents' reference points."""

    t: np.ndarray
    xy: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    acc: np.ndarray


def junction_intervals(path: Polyline, junction_xy: np.ndarray) -> List[tuple]:
    """``(s_enter, s_exit, junction id, heading in, heading change)`` per junction box on the path."""
    out = []
    for jid, c in enumerate(junction_xy):
        inside = np.all(np.abs(path.points - c) < ROAD_HALF_WIDTH, axis=1).astype(np.int8)
        # a route may pass the same junction more than once: one interval per contiguous run
        edges = np.diff(np.concatenate([[0], inside, [0]]))
        for lo, hi in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1):
            s_in, s_out = float(path.s[lo]), float(path.s[hi])
            h_in = float(path.interp(max(s_in - 0.5, 0.0))[1])
            turn = _wrap(float(path.interp(s_out + 0.5)[1]) - h_in)
            out.append((s_in, s_out, jid, h_in, turn))
    return sorted(out)


def _wrap(a: float) -> float:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _conflict(m1: tuple, m2: tuple) -> bool:
    """Whether two junction movements ``(heading in, heading change)`` may cross each other."""
    d = abs(_wrap(m1[0] - m2[0]))
    if d < 0.3:  # same approach: they queue behind each other
        return False
    # opposite approaches going straight or right do not cross
    return not (d > np.pi - 0.3 and m1[1] < 0.3 and m2[1] < 0.3)


def _speed_limit(path: Polyline, s: float, v_des: float) -> float:
    """Desired speed lowered so that the vehicle can brake comfortably to V_TURN before arcs."""
    lo, hi = np.searchsorted(path.s, [s, s + LOOKAHEAD])
    turn = path.is_turn[lo:hi]
    if not turn.any():
        return v_des
    ds = np.maximum(path.s[lo:hi][turn] - s, 0.0)
    return float(min(v_des, np.sqrt(V_TURN**2 + 2 * B_COMF * ds).min()))


def _idm(v: float, v_des: float, gap: float, dv: float) -> float:
    free = A_MAX * (1 - (v / v_des) ** 4) if v_des > 0.1 else -B_COMF * min(v, 1.0)
    if not np.isfinite(gap):
        return free
    s_star = S0 + max(0.0, v * TIME_GAP + v * dv / (2 * np.sqrt(A_MAX * B_COMF)))
    return free - A_MAX * (s_star / max(gap, 0.1)) ** 2


def simulate(agents: List[Agent], t: np.ndarray, junction_xy: np.ndarray) -> Trajectories:
    """Roll all agents forward over the time stamps ``t`` (uniform step, seconds)."""
    dt = float(t[1] - t[0])
    n_a, n_t = len(agents), len(t)
    xy = np.zeros((n_t, n_a, 2))
    yaw = np.zeros((n_t, n_a))
    speed = np.zeros((n_t, n_a))
    acc = np.zeros((n_t, n_a))
    s = np.array([a.s0 for a in agents], dtype=np.float64)
    v = np.array([a.v0 for a in agents], dtype=np.float64)
    drives = [a.kind in ('ego', 'vehicle') for a in agents]
    for a in agents:
        if a.kind in ('ego', 'vehicle'):
            a.junctions = junction_intervals(a.path, junction_xy)
    holders = {}  # junction id -> {agent index: (heading in, heading change)}
    for k in range(n_t):
        # current poses
        for i, a in enumerate(agents):
            if a.path is not None:
                p, h = a.path.interp(s[i])
                xy[k, i], yaw[k, i] = p, h
            else:
                xy[k, i], yaw[k, i] = a.pose[:2], a.pose[2]
            speed[k, i] = v[i]
        # junction bookkeeping: release, then acquire in index order
        for i, a in enumerate(agents):
            if not drives[i]:
                continue
            for s_in, s_out, jid, h_in, turn in a.junctions:
                others = holders.setdefault(jid, {})
                if i in others and s[i] - a.wlh[1] > s_out:
                    del others[i]
                elif i not in others and s_in - 8.0 <= s[i] + a.front and s[i] <= s_out:
                    if k == 0 or not any(_conflict((h_in, turn), m) for m in others.values()):
                        others[i] = (h_in, turn)
        if k == n_t - 1:
            break
        for i, a in enumerate(agents):
            if not drives[i]:
                if a.path is not None:
                    s[i] += v[i] * dt
                continue
            v_des = a.v_des
            if a.brake is not None and a.brake[0] <= t[k] < a.brake[1]:
                v_des = 0.0
            v_des = _speed_limit(a.path, s[i], v_des)
            gap, dv, _ = _gap(i, agents, s, v, xy[k], yaw[k], holders)
            a_cmd = float(np.clip(_idm(v[i], v_des, gap, dv), -B_MAX, A_MAX))
            v_new = max(0.0, v[i] + a_cmd * dt)
            acc[k, i] = (v_new - v[i]) / dt
            s[i] += 0.5 * (v[i] + v_new) * dt
            v[i] = v_new
    acc[-1] = acc[-2] if n_t > 1 else 0.0
    return Trajectories(t=t, xy=xy, yaw=yaw, speed=speed, acc=acc)


def _gap(
    i: int, agents: List[Agent], s: np.ndarray, v: np.ndarray, xy: np.ndarray, yaw: np.ndarray, holders: dict
) -> Tuple[float, float, Optional[int]]:
    """Free distance from agent ``i``'s front to the nearest obstacle on its path, the closing speed
    and what the obstacle is (agent index, ``-1 - junction id`` or None for the path end)."""
    a = agents[i]
    best, dv, who = a.path.length - s[i] - a.front + S0, 0.0, None  # the path end acts as a wall
    # junctions held by vehicles from another road
    for s_in, _s_out, jid, h_in, turn in a.junctions:
        if s[i] + a.front > s_in or s_in - s[i] > LOOKAHEAD:
            continue
        others = holders.get(jid, {})
        if i not in others and any(_conflict((h_in, turn), m) for m in others.values()):
            gap = s_in - 1.0 - s[i] - a.front
            if gap < best:
                best, dv, who = gap, v[i], -1 - jid
        break
    s_ahead = s[i] + np.arange(0.0, LOOKAHEAD, 1.0)
    path_xy, _ = a.path.interp(s_ahead)
    heading = np.array([np.cos(yaw[i]), np.sin(yaw[i])])
    for j, b in enumerate(agents):
        if j == i:
            continue
        rel = xy[j] - xy[i]
        if rel @ heading <= 0 or np.linalg.norm(rel) > LOOKAHEAD + 5:
            continue
        d = np.linalg.norm(path_xy - xy[j], axis=1)
        m = int(np.argmin(d))
        thresh = 1.6 + (1.4 if b.kind == 'pedestrian' else b.wlh[0] / 2)
        if d[m] > thresh or m == 0 and d[m] > 0.5:
            continue
        gap = s_ahead[m] - s[i] - a.front - (0.4 if b.kind == 'pedestrian' else b.wlh[1] / 2)
        if gap < best:
            # closing speed: my speed minus the obstacle's speed along my path
            vb = v[j] * np.cos(yaw[j] - yaw[i]) if b.path is not None else 0.0
            best, dv, who = gap, v[i] - vb, j
    return best, dv, who
