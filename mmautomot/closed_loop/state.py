# Copyright (c) mmautomot contributors. All rights reserved.
"""Ego state estimation from the allowed sensors (GNSS, IMU, speedometer)."""

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np

from mmautomot.structures.geometry import carla_xy_to_rh, compass_to_yaw, gps_to_carla_xy, rotation_2d


@dataclass
class EgoState:
    """The agent's estimate of the ego state at one tick (right-handed world, SI units).

    ``xy`` (2,) metres, ``yaw`` rad CCW from +x, ``speed`` m/s, ``lon_acc`` / ``lat_acc`` m/s^2 (lat + =
    left), ``yaw_rate`` rad/s (CCW +); the ``*_valid`` flags say whether the value came from a sensor at
    this tick (False = carried over / dead-reckoned). ``has_fix`` / ``has_heading``: a valid GNSS fix /
    compass has been seen since the route started, i.e. ``xy`` / ``yaw`` are estimates rather than the
    (0, 0) / 0 placeholders; :attr:`valid` needs both.
    """

    xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    yaw: float = 0.0
    speed: float = 0.0
    lon_acc: float = 0.0
    lat_acc: float = 0.0
    yaw_rate: float = 0.0
    gps_valid: bool = False
    compass_valid: bool = False
    speed_valid: bool = False
    imu_valid: bool = False
    has_fix: bool = False
    has_heading: bool = False

    @property
    def valid(self) -> bool:
        """Position and heading are known (a valid GNSS fix and compass were seen at some tick)."""
        return self.has_fix and self.has_heading

    def invalid_reason(self) -> str:
        """Why :attr:`valid` is False ('' when valid), e.g. 'no valid compass yet'."""
        missing = [name for name, ok in (('GNSS fix', self.has_fix), ('compass', self.has_heading)) if not ok]
        return f'no valid {" / ".join(missing)} yet' if missing else ''

    @property
    def ego_status(self) -> np.ndarray:
        """(4,) float32: speed, lon acc, lat acc, yaw rate (the dataset's ``ego_status``)."""
        return np.array([self.speed, self.lon_acc, self.lat_acc, self.yaw_rate], np.float32)


def _finite(values, n: int) -> Optional[np.ndarray]:
    if values is None:
        return None
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if arr.size < n or (n > 0 and not np.isfinite(arr[:n]).all()):
        return None
    return arr


class StateEstimator:
    """Fuse GNSS, IMU and speedometer readings into an :class:`EgoState`.

    * Position: GNSS lat/lon -> CARLA metres (inverse Mercator around ``(lat_ref, lon_ref)``) -> y
      flipped. A missing / non-finite fix is dead-reckoned from the last position with the last speed
      and heading over ``dt`` (once a heading is known). Before any valid fix the position is a (0, 0)
      placeholder and ``has_fix`` is False (the state is not :attr:`EgoState.valid`).
    * Heading: the IMU compass (``yaw = pi/2 - compass``). CARLA's compass is NaN now and then: a
      non-finite compass keeps the last valid heading; before any valid compass the heading is a 0
      placeholder and ``has_heading`` is False (the state is not :attr:`EgoState.valid`).
    * Speed: the speedometer (``{'speed': v}`` or a number); ``None`` (which CARLA returns at times)
      keeps the last speed.
    * ``ego_status``: accelerometer x -> lon acc, -y -> lat acc (CARLA's IMU frame is left-handed),
      -gyro z -> yaw rate (CCW +). Missing IMU keeps the last values.

    Args:
        lat_ref (float): map geo-reference latitude in degrees. Defaults to 0.0.
        lon_ref (float): map geo-reference longitude in degrees. Defaults to 0.0.
        dt (float): seconds per tick for dead reckoning. Defaults to 0.05 (20 Hz).
    """

    def __init__(self, lat_ref: float = 0.0, lon_ref: float = 0.0, dt: float = 0.05):
        self.lat_ref, self.lon_ref, self.dt = float(lat_ref), float(lon_ref), float(dt)
        self.state = EgoState()

    def reset(self) -> None:
        self.state = EgoState()

    def update(
        self, gps: Optional[Sequence[float]] = None, imu: Optional[Sequence[float]] = None, speed=None
    ) -> EgoState:
        """Update from this tick's readings (any may be None) and return a copy of the state.

        Args:
            gps: ``[lat, lon, alt]`` degrees / metres.
            imu: ``[ax, ay, az, gx, gy, gz, compass]`` (CARLA IMU, m/s^2, rad/s, rad).
            speed: ``{'speed': v}`` or v in m/s.
        """
        prev = self.state
        st = EgoState(
            xy=prev.xy.copy(),
            yaw=prev.yaw,
            speed=prev.speed,
            lon_acc=prev.lon_acc,
            lat_acc=prev.lat_acc,
            yaw_rate=prev.yaw_rate,
            has_fix=prev.has_fix,
            has_heading=prev.has_heading,
        )
        if isinstance(speed, dict):
            speed = speed.get('speed')
        spd = _finite(speed, 1)
        if spd is not None:
            st.speed, st.speed_valid = float(spd[0]), True
        raw = _finite(imu, 0)
        imu_arr = None if raw is None else _finite(raw[:6], 6)
        if imu_arr is not None:
            st.lon_acc, st.lat_acc, st.yaw_rate = float(imu_arr[0]), -float(imu_arr[1]), -float(imu_arr[5])
            st.imu_valid = True
        compass = None if raw is None else _finite(raw[6:7], 1)
        if compass is not None:
            st.yaw, st.compass_valid, st.has_heading = compass_to_yaw(float(compass[0])), True, True
        fix = _finite(gps, 2)
        if fix is not None:
            st.xy = carla_xy_to_rh(gps_to_carla_xy(fix[0], fix[1], self.lat_ref, self.lon_ref))
            st.gps_valid = st.has_fix = True
        elif st.has_fix and st.has_heading:
            st.xy = prev.xy + rotation_2d(st.yaw)[:, 0] * st.speed * self.dt
        self.state = st
        return EgoState(**{**asdict(st), 'xy': st.xy.copy()})
