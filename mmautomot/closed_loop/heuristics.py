# Copyright (c) mmautomot contributors. All rights reserved.
"""Explicit, opt-in driving heuristics. Every flag is off by default and is logged with the run.

Published closed-loop agents often hide such rules (speed caps, creeping when stuck, LiDAR emergency
brakes) although they change the driving score; here each one is a named config flag written into the
run's ``agent_config.json`` and every firing is logged to ``events.json``.
"""

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np


@dataclass
class HeuristicsConfig:
    """Heuristic flags and their parameters (defaults: all heuristics off).

    Args:
        speed_cap (float | None): upper bound on the desired speed in m/s; None = off.
        creep (bool): when the ego has been standing (< ``stuck_speed``) for ``creep_after_ticks``
            ticks, force ``creep_throttle`` (brake released) for ``creep_ticks`` ticks. Off.
        stuck_speed (float): m/s under which the ego counts as standing. 0.1.
        creep_after_ticks (int): 1100 (55 s at 20 Hz).
        creep_ticks (int): 40 (2 s).
        creep_throttle (float): 0.4.
        emergency_brake (bool): full brake when at least ``eb_min_points`` LiDAR points lie in the box
            ahead (ego frame) ``0 < x < eb_distance``, ``|y| < eb_half_width``, ``eb_z_min < z <
            eb_z_max``. Off. It overrides creeping.
        eb_distance (float): 4.0 m. eb_half_width (float): 1.2 m. eb_z_min (float): 0.3 m.
        eb_z_max (float): 2.0 m. eb_min_points (int): 20.
    """

    speed_cap: Optional[float] = None
    creep: bool = False
    stuck_speed: float = 0.1
    creep_after_ticks: int = 1100
    creep_ticks: int = 40
    creep_throttle: float = 0.4
    emergency_brake: bool = False
    eb_distance: float = 4.0
    eb_half_width: float = 1.2
    eb_z_min: float = 0.3
    eb_z_max: float = 2.0
    eb_min_points: int = 20

    def to_dict(self) -> dict:
        return asdict(self)


class Heuristics:
    """Stateful application of :class:`HeuristicsConfig` to one control command."""

    def __init__(self, cfg: HeuristicsConfig):
        self.cfg = cfg
        self.stuck_ticks = 0
        self.creep_left = 0

    def obstacle_ahead(self, points: Optional[np.ndarray]) -> bool:
        c = self.cfg
        if points is None or len(points) == 0:
            return False
        p = np.asarray(points)
        inside = (
            (p[:, 0] > 0)
            & (p[:, 0] < c.eb_distance)
            & (np.abs(p[:, 1]) < c.eb_half_width)
            & (p[:, 2] > c.eb_z_min)
            & (p[:, 2] < c.eb_z_max)
        )
        return int(inside.sum()) >= c.eb_min_points

    def apply(self, control: dict, speed: float, points: Optional[np.ndarray]) -> Optional[str]:
        """Modify ``control`` in place; return the name of the heuristic that fired (or None)."""
        c = self.cfg
        fired = None
        if c.creep:
            self.stuck_ticks = self.stuck_ticks + 1 if speed < c.stuck_speed else 0
            if self.stuck_ticks >= c.creep_after_ticks and self.creep_left == 0:
                self.creep_left = c.creep_ticks
                self.stuck_ticks = 0
            if self.creep_left > 0:
                self.creep_left -= 1
                control.update(throttle=max(control['throttle'], c.creep_throttle), brake=0.0)
                fired = 'creep'
        if c.emergency_brake and self.obstacle_ahead(points):
            control.update(throttle=0.0, brake=1.0)
            self.creep_left = 0
            fired = 'emergency_brake'
        return fired
