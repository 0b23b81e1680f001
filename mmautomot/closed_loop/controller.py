# Copyright (c) mmautomot contributors. All rights reserved.
"""Trajectory -> vehicle control: lateral PID on a path / aim point, longitudinal PID on desired speed.

All inputs are in the ego frame (x forward, y left). The output follows CARLA's ``VehicleControl``
convention: ``steer`` in [-1, 1] with **positive = right**, ``throttle`` and ``brake`` in [0, 1].
"""

from collections import deque
from typing import Dict, Optional

import numpy as np

from mmautomot.structures.geometry import resample_polyline


class PIDController:
    """A discrete PID with a sliding integral window.

    Args:
        kp, ki, kd (float): gains.
        window (int): number of past errors summed for the integral term (and used for the
            derivative, last minus previous). Defaults to 20.
    """

    def __init__(self, kp: float = 1.0, ki: float = 0.0, kd: float = 0.0, window: int = 20):
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.errors = deque([0.0] * int(window), maxlen=int(window))

    def reset(self) -> None:
        self.errors.extend([0.0] * self.errors.maxlen)

    def step(self, error: float) -> float:
        self.errors.append(float(error))
        integral = float(np.mean(self.errors)) if len(self.errors) else 0.0
        derivative = self.errors[-1] - self.errors[-2] if len(self.errors) >= 2 else 0.0
        return self.kp * error + self.ki * integral + self.kd * derivative


class TrajectoryController:
    """Turn the driver's plan into steer / throttle / brake.

    Lateral (``lateral_mode``):

    * ``'path'`` (default): densify the spatial ``path`` (P, 2) to ``path_spacing`` metres and aim at the
      point ``lookahead = clip(lookahead_min + lookahead_gain * speed, lookahead_min, lookahead_max)``
      metres along it.
    * ``'aim'``: aim at temporal waypoint ``aim_index`` (0-based) of ``waypoints``.

    The heading error ``atan2(y, x)`` (rad, + = left) goes through the lateral PID; CARLA steer is its
    negation, clipped to ``[-max_steer, max_steer]``. Below ``min_steer_speed`` m/s (standing) the
    steer is 0.

    Longitudinal: desired speed = mean speed over the first ``speed_segments`` waypoint segments
    (origin -> wp0 -> wp1 ..., each ``waypoint_dt`` s) times ``desired_speed_scale``. Brake if desired
    speed < ``brake_speed`` or speed > ``brake_ratio`` x desired speed; else throttle =
    clip(PID(clip(desired - speed, 0, clip_delta)), 0, max_throttle).

    Args:
        lateral (dict): PID gains ``kp, ki, kd, window``. Defaults to ``dict(kp=1.25, ki=0.75,
            kd=0.3, window=20)``.
        longitudinal (dict): PID gains. Defaults to ``dict(kp=5.0, ki=0.5, kd=1.0, window=20)``.
        lateral_mode (str): 'path' or 'aim'. Defaults to 'path'.
        aim_index (int): waypoint used in 'aim' mode. Defaults to 1 (1 s ahead).
        path_spacing (float): metres between densified path points. Defaults to 0.1.
        lookahead_min, lookahead_max (float): metres. Defaults to 3.0, 10.0.
        lookahead_gain (float): seconds (lookahead grows with speed). Defaults to 0.4.
        waypoint_dt (float): seconds between temporal waypoints. Defaults to 0.5.
        speed_segments (int): segments averaged for the desired speed. Defaults to 2.
        desired_speed_scale (float): multiplier on the desired speed. Defaults to 1.0.
        brake_speed (float): m/s. Defaults to 0.4.
        brake_ratio (float): Defaults to 1.1.
        clip_delta (float): m/s. Defaults to 0.25.
        max_throttle (float): Defaults to 0.75.
        max_steer (float): Defaults to 1.0.
        min_steer_speed (float): m/s. Defaults to 0.0 (always steer).
    """

    def __init__(
        self,
        lateral: Optional[dict] = None,
        longitudinal: Optional[dict] = None,
        lateral_mode: str = 'path',
        aim_index: int = 1,
        path_spacing: float = 0.1,
        lookahead_min: float = 3.0,
        lookahead_max: float = 10.0,
        lookahead_gain: float = 0.4,
        waypoint_dt: float = 0.5,
        speed_segments: int = 2,
        desired_speed_scale: float = 1.0,
        brake_speed: float = 0.4,
        brake_ratio: float = 1.1,
        clip_delta: float = 0.25,
        max_throttle: float = 0.75,
        max_steer: float = 1.0,
        min_steer_speed: float = 0.0,
    ):
        if lateral_mode not in ('path', 'aim'):
            raise ValueError(f"lateral_mode must be 'path' or 'aim', got {lateral_mode!r}")
        self.lat_pid = PIDController(**(lateral or dict(kp=1.25, ki=0.75, kd=0.3, window=20)))
        self.lon_pid = PIDController(**(longitudinal or dict(kp=5.0, ki=0.5, kd=1.0, window=20)))
        self.lateral_mode, self.aim_index = lateral_mode, int(aim_index)
        self.path_spacing = float(path_spacing)
        self.lookahead_min, self.lookahead_max = float(lookahead_min), float(lookahead_max)
        self.lookahead_gain = float(lookahead_gain)
        self.waypoint_dt, self.speed_segments = float(waypoint_dt), int(speed_segments)
        self.desired_speed_scale = float(desired_speed_scale)
        self.brake_speed, self.brake_ratio = float(brake_speed), float(brake_ratio)
        self.clip_delta, self.max_throttle = float(clip_delta), float(max_throttle)
        self.max_steer, self.min_steer_speed = float(max_steer), float(min_steer_speed)

    def reset(self) -> None:
        self.lat_pid.reset()
        self.lon_pid.reset()

    def desired_speed(self, waypoints: np.ndarray) -> float:
        wps = np.concatenate([np.zeros((1, 2)), np.asarray(waypoints, float).reshape(-1, 2)], axis=0)
        k = max(1, min(self.speed_segments, len(wps) - 1))
        seg = np.linalg.norm(np.diff(wps[: k + 1], axis=0), axis=1)
        return float(seg.mean() / self.waypoint_dt) * self.desired_speed_scale

    def aim_point(self, path: Optional[np.ndarray], waypoints: np.ndarray, speed: float) -> np.ndarray:
        if self.lateral_mode == 'aim' or path is None or len(path) == 0:
            wps = np.asarray(waypoints, float).reshape(-1, 2)
            return wps[min(self.aim_index, len(wps) - 1)]
        lookahead = float(
            np.clip(self.lookahead_min + self.lookahead_gain * speed, self.lookahead_min, self.lookahead_max)
        )
        n = int(np.ceil(lookahead / self.path_spacing))
        dense, mask = resample_polyline(path, self.path_spacing, n)
        valid = np.flatnonzero(mask)
        return dense[valid[-1]] if len(valid) else np.asarray(path, float).reshape(-1, 2)[-1]

    def step(
        self, waypoints: np.ndarray, speed: float, path: Optional[np.ndarray] = None, speed_cap: Optional[float] = None
    ) -> Dict[str, float]:
        """One control step.

        Args:
            waypoints (np.ndarray): (T, 2) temporal waypoints, ego frame, every ``waypoint_dt`` s.
            speed (float): current speed in m/s.
            path (np.ndarray, optional): (P, 2) spatial path, ego frame.
            speed_cap (float, optional): m/s upper bound on the desired speed (heuristic, set by the
                agent only when its ``speed_cap`` flag is on).

        Returns:
            dict: ``steer``, ``throttle``, ``brake`` (CARLA convention) and diagnostics
            ``desired_speed``, ``aim`` (x, y), ``angle`` (rad, + = left).
        """
        desired = self.desired_speed(waypoints)
        if speed_cap is not None:
            desired = min(desired, float(speed_cap))
        brake = desired < self.brake_speed or (speed / max(desired, 1e-6)) > self.brake_ratio
        delta = float(np.clip(desired - speed, 0.0, self.clip_delta))
        throttle = float(np.clip(self.lon_pid.step(delta), 0.0, self.max_throttle))
        if brake:
            throttle = 0.0
        aim = self.aim_point(path, waypoints, speed)
        angle = float(np.arctan2(aim[1], aim[0])) if np.linalg.norm(aim) > 1e-3 else 0.0
        steer = -self.lat_pid.step(angle)
        if speed < self.min_steer_speed:
            steer = 0.0
        steer = float(np.clip(steer, -self.max_steer, self.max_steer))
        return dict(
            steer=steer,
            throttle=throttle,
            brake=float(brake),
            desired_speed=desired,
            aim=[float(aim[0]), float(aim[1])],
            angle=angle,
        )
