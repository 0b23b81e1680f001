# Copyright (c) mmautomot contributors. All rights reserved.
"""Deterministic fake driver and leaderboard-style sensor data for the closed-loop tests."""

import numpy as np

from mmautomot.structures.geometry import carla_xy_to_gps


class FakeDriver:
    """Drives straight at ``speed`` m/s (or along a left arc); records the observations it got."""

    def __init__(self, speed=5.0, curvature=0.0, fail_on=()):
        self.speed, self.curvature, self.fail_on = speed, curvature, set(fail_on)
        self.observations = []

    def step(self, obs):
        self.observations.append(obs)
        if obs['tick'] in self.fail_on:
            raise RuntimeError('model exploded')
        s = np.arange(1, 21, dtype=np.float64)
        if self.curvature:
            r = 1.0 / self.curvature
            path = np.stack([r * np.sin(s / r), r * (1 - np.cos(s / r))], 1)
        else:
            path = np.stack([s, np.zeros_like(s)], 1)
        wps = np.stack([np.arange(1, 7) * 0.5 * self.speed, np.zeros(6)], 1)
        return dict(meta_actions=np.full((3, 2), 2), path=path, waypoints=wps, timings_ms=dict(ae=1.5))


def make_input_data(frame=0, x=0.0, y=0.0, compass=np.pi / 2, speed=3.0, h=32, w=64, drop=()):
    """The dict the leaderboard passes to run_step (CARLA world x, y; compass pi/2 = facing +x)."""
    lat, lon = carla_xy_to_gps([x, y])
    rng = np.random.default_rng(frame)
    data = {
        'CAM_FRONT': (frame, rng.integers(0, 255, (h, w, 4), dtype=np.uint8)),
        'LIDAR': (frame, rng.uniform(-20, 20, (500, 4)).astype(np.float32)),
        'GPS': (frame, np.array([lat, lon, 0.0])),
        'IMU': (frame, np.array([0.1, 0.2, 9.8, 0.0, 0.0, 0.05, compass])),
        'SPEED': (frame, {'speed': speed}),
    }
    for k in drop:
        data.pop(k)
    return data


SENSORS = [
    dict(
        type='sensor.camera.rgb',
        id='CAM_FRONT',
        x=-1.5,
        y=0.0,
        z=2.0,
        roll=0.0,
        pitch=0.0,
        yaw=0.0,
        width=64,
        height=32,
        fov=110,
    ),
    dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, roll=0.0, pitch=0.0, yaw=-90.0),
    dict(type='sensor.other.imu', id='IMU', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, sensor_tick=0.05),
    dict(type='sensor.other.gnss', id='GPS', x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, sensor_tick=0.01),
    dict(type='sensor.speedometer', id='SPEED', reading_frequency=20),
]


def straight_route_gps(length=200.0, step=10.0):
    """A straight global plan along CARLA +x: [(lat, lon, RoadOption LANEFOLLOW=4), ...]."""
    xs = np.arange(0.0, length, step)
    gps = carla_xy_to_gps(np.stack([xs, np.zeros_like(xs)], 1))
    return [(float(a), float(b), 4) for a, b in gps]
