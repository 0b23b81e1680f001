# Copyright (c) mmautomot contributors. All rights reserved.
"""Route planner: the leaderboard's GNSS global plan -> ego-frame target point and command."""

from typing import Dict, Sequence, Tuple

import numpy as np

from mmautomot.structures import carla_command_to_index
from mmautomot.structures.geometry import carla_xy_to_rh, gps_to_carla_xy, world_to_ego


class RoutePlanner:
    """Follow a sparse global plan and give the next target point and the 6-way command.

    The plan's points are converted once to the right-handed world frame (CARLA world with y flipped,
    see :mod:`mmautomot.structures.geometry`). At every tick the first remaining point is dropped while
    (a) the ego is closer than ``min_distance`` to it, or (b) the ego has passed it along the route
    (its projection on the segment to the next point is beyond it) and the next point is closer than
    ``max_distance``. The last point is never dropped. The target point is the first remaining point,
    the command is the CARLA RoadOption stored with it, mapped by
    :func:`mmautomot.structures.carla_command_to_index`.

    Args:
        min_distance (float): metres; points closer than this are consumed. Defaults to 7.5 (the
            common TransFuser-style value; the Bench2Drive data's ``command_near`` points are ~8 m
            apart after the leaderboard's downsampling).
        max_distance (float): metres; a passed point is only dropped if the next one is within this
            distance. Defaults to 50.0.
        lat_ref (float): map geo-reference latitude in degrees. Defaults to 0.0.
        lon_ref (float): map geo-reference longitude in degrees. Defaults to 0.0.
    """

    def __init__(
        self, min_distance: float = 7.5, max_distance: float = 50.0, lat_ref: float = 0.0, lon_ref: float = 0.0
    ):
        self.min_distance = float(min_distance)
        self.max_distance = float(max_distance)
        self.lat_ref = float(lat_ref)
        self.lon_ref = float(lon_ref)
        self.points = np.zeros((0, 2))
        self.commands: list = []
        self.index = 0

    def set_route_gps(self, route: Sequence[Tuple[float, float, int]]) -> None:
        """Set the plan from ``[(lat, lon, road_option_value), ...]`` (degrees, CARLA RoadOption)."""
        if len(route) == 0:
            raise ValueError('RoutePlanner.set_route_gps: empty global plan')
        latlon = np.array([(r[0], r[1]) for r in route], dtype=np.float64)
        xy = gps_to_carla_xy(latlon[:, 0], latlon[:, 1], self.lat_ref, self.lon_ref)
        self.set_route_world(carla_xy_to_rh(xy), [r[2] for r in route])

    def set_route_world(self, points_rh, road_options: Sequence[int]) -> None:
        """Set the plan from right-handed world points (N, 2) and CARLA RoadOption values (N,)."""
        pts = np.asarray(points_rh, dtype=np.float64).reshape(-1, 2)
        if len(pts) != len(road_options) or len(pts) == 0:
            raise ValueError(f'RoutePlanner: {len(pts)} points but {len(road_options)} commands')
        self.points = pts
        self.commands = [carla_command_to_index(int(c)) for c in road_options]
        self.index = 0

    @property
    def remaining(self) -> int:
        return len(self.points) - self.index

    def _advance(self, ego_xy: np.ndarray) -> None:
        while self.index < len(self.points) - 1:
            p0, p1 = self.points[self.index], self.points[self.index + 1]
            d0 = np.linalg.norm(ego_xy - p0)
            seg = p1 - p0
            passed = float(np.dot(ego_xy - p0, seg)) > 0.0 and np.linalg.norm(ego_xy - p1) < self.max_distance
            if d0 < self.min_distance or passed:
                self.index += 1
            else:
                break

    def run_step(self, ego_xy, ego_yaw: float) -> Dict[str, object]:
        """Advance along the plan and return the current target.

        Args:
            ego_xy (np.ndarray): (2,) ego position in the right-handed world frame, metres.
            ego_yaw (float): ego yaw in radians (right-handed, CCW from +x).

        Returns:
            dict: ``target_point`` (2,) float32 ego frame, ``command`` int, ``next_target_point``
            (2,) float32 ego frame (the point after the target, or the target at the route end),
            ``next_command`` int, ``route_index`` int, ``target_world`` (2,) float64.
        """
        if len(self.points) == 0:
            raise RuntimeError('RoutePlanner.run_step called before set_route_gps/set_route_world')
        ego_xy = np.asarray(ego_xy, dtype=np.float64)[:2]
        self._advance(ego_xy)
        i, j = self.index, min(self.index + 1, len(self.points) - 1)
        local = world_to_ego(self.points[[i, j]], ego_xy, ego_yaw).astype(np.float32)
        return dict(
            target_point=local[0],
            command=int(self.commands[i]),
            next_target_point=local[1],
            next_command=int(self.commands[j]),
            route_index=i,
            target_world=self.points[i].copy(),
        )
