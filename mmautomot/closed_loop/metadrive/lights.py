# Copyright (c) mmautomot contributors. All rights reserved.
"""Red-light infractions in MetaDrive, judged like the CARLA leaderboard's ``RunningRedLightTest``.

MetaDrive marks a vehicle ``red_light`` whenever its chassis touches a light's air wall, which also fires
for the walls of neighbouring (e.g. oncoming) lanes that the chassis box merely grazes. The leaderboard
counts an infraction only when the vehicle crosses the stop line of a light that controls its own
direction while the light is red. :func:`red_light_crossings` does that: for every light whose status is
red, the ego's front-bumper point must cross the stop line (the light's position, perpendicular to its
lane heading) this tick, moving along the lane (heading within 90 degrees), laterally within the lane.
"""

from typing import Iterable, List

import numpy as np

RED = 'TRAFFIC_LIGHT_RED'


def lights_of(env) -> Iterable:
    """The traffic-light objects of a MetaDrive env (none when it has no light manager)."""
    manager = getattr(env.engine, 'light_manager', None)
    return list(getattr(manager, 'spawned_objects', {}).values()) if manager is not None else []


def crossed_stop_line(
    prev_front: np.ndarray,
    front: np.ndarray,
    ego_heading: float,
    stop_point: np.ndarray,
    lane_heading: float,
    lane_width: float,
) -> bool:
    """Whether the front point moved from before to at/after a stop line, along the lane, within its width.

    Args:
        prev_front / front (np.ndarray): (2,) front-bumper point last tick / this tick, world metres.
        ego_heading (float): ego yaw, rad (world, counter-clockwise).
        stop_point (np.ndarray): (2,) centre of the stop line, world metres.
        lane_heading (float): the controlled lane's direction at the stop line, rad.
        lane_width (float): metres.
    """
    d = np.array([np.cos(lane_heading), np.sin(lane_heading)])
    n = np.array([-d[1], d[0]])
    before = float(np.dot(np.asarray(prev_front) - stop_point, d))
    after = float(np.dot(np.asarray(front) - stop_point, d))
    lateral = float(np.dot(np.asarray(front) - stop_point, n))
    along = float(np.cos(ego_heading - lane_heading)) > 0.0
    return along and before < 0.0 <= after and abs(lateral) <= lane_width / 2


def red_light_crossings(env, ego, prev_front: np.ndarray) -> List[str]:
    """Ids of the red lights whose stop line the ego's front crossed since ``prev_front``."""
    front = front_point(ego)
    out = []
    for light in lights_of(env):
        if getattr(light, 'status', None) != RED:
            continue
        width = float(getattr(light, 'lane_width', 3.5) or 3.5)
        stop = np.asarray(light.position, dtype=np.float64)[:2]
        if crossed_stop_line(prev_front, front, float(ego.heading_theta), stop, float(light.heading_theta), width):
            out.append(str(light.id))
    return out


def front_point(ego) -> np.ndarray:
    """(2,) world position of the ego's front bumper centre."""
    yaw = float(ego.heading_theta)
    half = float(getattr(ego, 'LENGTH', 4.5) or 4.5) / 2
    return np.asarray(ego.position, dtype=np.float64)[:2] + half * np.array([np.cos(yaw), np.sin(yaw)])
