# Copyright (c) mmautomot contributors. All rights reserved.
"""MetaDrive state -> the leaderboard-style ``input_data`` the Bench2Drive agent core reads.

The closed-loop agent (:class:`mmautomot.closed_loop.ClosedLoopAgent`) consumes CARLA sensor readings;
:class:`MetaDriveSensors` synthesises them from MetaDrive's right-handed world (x, y, z up, yaw CCW), so
the agent core, its state estimator, route planner, preprocessing and controller run unchanged:

* ``GPS``: ``[lat, lon, alt]``: world (x, y) -> CARLA (x, -y) -> inverse Mercator around (0, 0);
* ``IMU``: ``[ax, ay, az, gx, gy, gz, compass]`` in CARLA's left-handed IMU frame (``ay`` = -lateral
  acceleration, ``gz`` = -yaw rate) and ``compass = pi/2 - yaw``; accelerations are finite differences
  of the body velocity over the tick;
* ``SPEED``: ``{'speed': m/s}``;
* ``LIDAR``: a LiDAR-like cloud built from the simulator's geometry (MetaDrive's own lidar is a
  single-plane distance per beam, not a 3-D cloud): points on the sides of every vehicle, traffic object
  and pedestrian box within ``lidar_range`` at several heights, plus road-edge points (lane sides of type
  ``SIDE`` / ``GUARDRAIL``) at curb height; returned in the CARLA sensor frame of the rig's LiDAR mount so
  the agent's preprocessing moves them back into the ego frame;
* ``CAM_FRONT`` (when the env has an RGB camera): (H, W, 4) BGRA uint8 like CARLA; with a camera rig
  (``camera_rig``, e.g. :func:`six_camera_rig`: the Bench2Drive / nuScenes-style ``CAM_FRONT``,
  ``CAM_FRONT_LEFT``, ``CAM_FRONT_RIGHT``, ``CAM_BACK``, ``CAM_BACK_LEFT``, ``CAM_BACK_RIGHT`` with their
  mounts, yaw and FOV) every view is rendered by re-posing the env's camera
  (:func:`~.adapter.render_camera_view`), keyed by the rig's names.

:func:`route_from_navigation` turns MetaDrive's navigation (checkpoints on the road graph) into the
leaderboard's global plan (world points every ``spacing`` m with CARLA RoadOption values).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmautomot.structures.geometry import carla_xy_to_gps, lidar_mount_matrix, wrap_angle

#: CARLA RoadOption values.
ROAD_OPTION = dict(LEFT=1, RIGHT=2, STRAIGHT=3, LANEFOLLOW=4)
DEFAULT_LIDAR_MOUNT = dict(x=0.0, y=0.0, z=2.5, yaw=-90.0)


def six_camera_rig(width: int, height: int) -> Dict[str, dict]:
    """The Bench2Drive six-camera rig (nuScenes-style names, CARLA mounts, yaw and FOV) at ``width x height``.

    Returns:
        dict: camera name -> ``dict(x, y, z, yaw, fov, width, height)`` (CARLA vehicle frame, degrees).
    """
    from mmautomot.datasets.bench2drive.rig import B2D_CAMERA_RIG

    keys = ('x', 'y', 'z', 'yaw', 'fov')
    return {
        name: dict({k: float(m[k]) for k in keys}, width=int(width), height=int(height))
        for name, m in B2D_CAMERA_RIG.items()
    }


def rig_sensor_specs(rig: Dict[str, dict]) -> List[dict]:
    """Leaderboard sensor entries (``sensor.camera.rgb``) of a camera rig, for the agent config."""
    return [
        dict(type='sensor.camera.rgb', id=name, roll=0.0, pitch=0.0, **{k: m[k] for k in m}) for name, m in rig.items()
    ]


def world_to_gps(xy) -> np.ndarray:
    """Right-handed world (x, y) metres -> (lat, lon) degrees around (0, 0)."""
    xy = np.asarray(xy, dtype=np.float64)
    carla = np.stack([xy[..., 0], -xy[..., 1]], axis=-1)
    return carla_xy_to_gps(carla)


def yaw_to_compass(yaw: float) -> float:
    """Right-handed yaw (rad, CCW from +x) -> CARLA compass (rad, 0 = north, clockwise), in [0, 2 pi)."""
    return float(np.mod(np.pi / 2 - yaw, 2 * np.pi))


def _sample_lane(lane, spacing: float, lateral: float = 0.0) -> np.ndarray:
    n = max(2, int(np.ceil(lane.length / spacing)) + 1)
    return np.array([lane.position(s, lateral) for s in np.linspace(0.0, lane.length, n)], dtype=np.float64)


def route_lanes(navigation) -> list:
    """The lanes along MetaDrive's route, keeping the spawn lane's index where the road allows."""
    graph = navigation.map.road_network.graph
    cps = list(navigation.checkpoints)
    idx = 0
    cur = getattr(navigation, 'current_lane', None)
    if cur is not None and getattr(cur, 'index', None) is not None:
        idx = int(cur.index[2])
    lanes = []
    for a, b in zip(cps[:-1], cps[1:]):
        cands = graph[a][b]
        lanes.append(cands[min(idx, len(cands) - 1)])
    return lanes


def route_commands(points: np.ndarray, lookahead: float = 15.0, turn_angle: float = 0.6) -> List[int]:
    """CARLA RoadOption per route point from the heading change over the next ``lookahead`` metres.

    A change above ``turn_angle`` rad is LEFT / RIGHT (CCW + is left), otherwise LANEFOLLOW.
    """
    d = np.diff(points, axis=0)
    seg = np.linalg.norm(d, axis=1)
    heading = np.arctan2(d[:, 1], d[:, 0])
    heading = np.append(heading, heading[-1] if len(heading) else 0.0)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    out = []
    for i in range(len(points)):
        j = int(np.searchsorted(s, s[i] + lookahead))
        j = min(j, len(points) - 1)
        dyaw = float(wrap_angle(heading[j] - heading[i]))
        out.append(
            ROAD_OPTION['LEFT']
            if dyaw > turn_angle
            else ROAD_OPTION['RIGHT']
            if dyaw < -turn_angle
            else ROAD_OPTION['LANEFOLLOW']
        )
    return out


def route_from_navigation(navigation, spacing: float = 8.0) -> Tuple[np.ndarray, List[int], np.ndarray]:
    """MetaDrive navigation -> ``(points (N, 2) world, road_options (N,), dense (M, 2) centre line)``.

    ``dense`` samples the route's lane centres every metre (for plots and the expert data); ``points``
    keeps one point every ``spacing`` metres along it, like the leaderboard's downsampled global plan.
    On a scenario map (``ScenarioEnv``, :class:`TrajectoryNavigation`) the route is the recorded SDC
    trajectory MetaDrive navigates along (``navigation.reference_trajectory``).
    """
    ref = getattr(navigation, 'reference_trajectory', None)
    if ref is not None:
        dense = _sample_lane(ref, 1.0)
    else:
        dense = np.concatenate([_sample_lane(lane, 1.0) for lane in route_lanes(navigation)], axis=0)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(dense, axis=0), axis=1) > 1e-3])
    dense = dense[keep]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    marks = np.arange(0.0, s[-1], spacing)
    idx = np.unique(np.append(np.searchsorted(s, marks), len(dense) - 1))
    points = dense[idx]
    return points, route_commands(points), dense


def road_edge_points(road_network, spacing: float = 1.0) -> np.ndarray:
    """(N, 2) world points on every lane side whose line type is a road edge (SIDE / GUARDRAIL)."""
    from metadrive.constants import PGLineType

    edges = (PGLineType.SIDE, PGLineType.GUARDRAIL)
    pts = []
    for lane in road_network.get_all_lanes():
        types = getattr(lane, 'line_types', None) or ()
        for side, sign in zip(types, (-1.0, 1.0)):
            if side in edges:
                # MetaDrive lanes: line_types = (left, right); lateral + is right of the lane direction
                width = lane.width_at(0.0)
                pts.append(_sample_lane(lane, spacing, sign * width / 2))
    return np.concatenate(pts, axis=0) if pts else np.zeros((0, 2))


def scenario_edge_points(scenario: dict, spacing: float = 1.0) -> np.ndarray:
    """(N, 2) world points along the ``ROAD_EDGE_*`` polylines of a ScenarioDescription's map features."""
    pts = []
    for feat in (scenario or {}).get('map_features', {}).values():
        if not str(feat.get('type', '')).startswith('ROAD_EDGE') or len(feat.get('polyline', ())) < 2:
            continue
        line = np.asarray(feat['polyline'], dtype=np.float64)[:, :2]
        seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        q = np.arange(0.0, s[-1] + 1e-6, spacing)
        pts.append(np.column_stack([np.interp(q, s, line[:, 0]), np.interp(q, s, line[:, 1])]))
    return np.concatenate(pts, axis=0) if pts else np.zeros((0, 2))


def box_side_points(
    corners: np.ndarray, height: float, spacing: float = 0.3, levels: Sequence[float] = (0.3, 0.8, 1.3)
) -> np.ndarray:
    """(N, 3) points on the four vertical sides of a box (corners (4, 2) in order) at ``levels`` (m)."""
    ring = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / spacing)))
        t = np.arange(n)[:, None] / n
        ring.append(a + t * (b - a))
    ring = np.concatenate(ring, axis=0)
    zs = [z for z in levels if z < height] or [height / 2]
    return np.concatenate([np.column_stack([ring, np.full(len(ring), z)]) for z in zs], axis=0)


class MetaDriveSensors:
    """Leaderboard ``input_data`` from a running MetaDrive env (see the module docstring).

    Args:
        env: a MetaDrive env after ``reset``.
        dt (float): seconds per env step (for accelerations). Defaults to 0.05.
        lidar_mount (dict, optional): the rig's LiDAR ``dict(x, y, z, yaw)`` (CARLA vehicle frame).
            Defaults to :data:`DEFAULT_LIDAR_MOUNT`.
        lidar_range (float): metres. Defaults to 32 (the BEV encoder's extent).
        camera_id (str): sensor id of the front camera. Defaults to 'CAM_FRONT'.
        camera_rig (dict, optional): camera name -> mount (:func:`six_camera_rig`); every view is rendered
            each :meth:`read` instead of the env's single front image. Defaults to None.
    """

    def __init__(
        self,
        env,
        dt: float = 0.05,
        lidar_mount: Optional[dict] = None,
        lidar_range: float = 32.0,
        camera_id: str = 'CAM_FRONT',
        camera_rig: Optional[Dict[str, dict]] = None,
    ):
        self.env, self.dt, self.lidar_range, self.camera_id = env, float(dt), float(lidar_range), camera_id
        self.camera_rig = dict(camera_rig or {})
        mount = dict(DEFAULT_LIDAR_MOUNT, **(lidar_mount or {}))
        self.ego2lidar = np.linalg.inv(lidar_mount_matrix(**mount))
        self.edges = road_edge_points(env.engine.current_map.road_network)
        data_manager = getattr(env.engine, 'data_manager', None)
        if data_manager is not None and hasattr(data_manager, 'current_scenario'):  # ScenarioEnv
            self.edges = np.concatenate([self.edges, scenario_edge_points(data_manager.current_scenario)])
        self.prev_vel = None
        self.last_kin = self.last_pose = None
        self.frame = 0

    @property
    def ego(self):
        return self.env.agent

    def ego_pose(self) -> Tuple[np.ndarray, float]:
        v = self.ego
        return np.asarray(v.position, dtype=np.float64)[:2], float(v.heading_theta)

    def kinematics(self) -> Dict[str, np.ndarray]:
        """World velocity (3,), acceleration (3,) and angular velocity (3,) rad/s (right-handed)."""
        v = self.ego
        vel = np.zeros(3)
        vel[:2] = np.asarray(v.velocity, dtype=np.float64)[:2]
        ang = np.asarray(v.body.getAngularVelocity(), dtype=np.float64)[:3]
        acc = np.zeros(3) if self.prev_vel is None else (vel - self.prev_vel) / self.dt
        return dict(velocity=vel, acceleration=acc, angular_velocity=ang)

    def lidar_points_ego(self) -> np.ndarray:
        """(N, 4) float32 LiDAR-like points (x, y, z, intensity 1) in the ego frame."""
        xy, yaw = self.ego_pose()
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, s], [-s, c]])  # world -> ego
        clouds = []
        for obj in self.env.engine.get_objects().values():
            if obj is self.ego or not hasattr(obj, 'bounding_box'):
                continue
            pos = np.asarray(obj.position, dtype=np.float64)[:2]
            if np.linalg.norm(pos - xy) > self.lidar_range + 10:
                continue
            try:
                corners = np.asarray(obj.bounding_box, dtype=np.float64)[:, :2]
                height = float(getattr(obj, 'HEIGHT', 1.5) or 1.5)
            except (NotImplementedError, AttributeError, TypeError):
                continue
            clouds.append(box_side_points(corners, height))
        near = (
            self.edges[np.linalg.norm(self.edges - xy, axis=1) < self.lidar_range + 5]
            if len(self.edges)
            else self.edges
        )
        if len(near):
            clouds.append(np.column_stack([near, np.full(len(near), 0.15)]))
        if not clouds:
            return np.zeros((0, 4), np.float32)
        pts = np.concatenate(clouds, axis=0)
        local = (pts[:, :2] - xy) @ rot.T
        keep = np.all(np.abs(local) < self.lidar_range, axis=1)
        out = np.column_stack([local[keep], pts[keep, 2], np.ones(int(keep.sum()))])
        return out.astype(np.float32)

    def to_carla_lidar(self, points_ego: np.ndarray) -> np.ndarray:
        """Ego-frame points -> the CARLA (left-handed) sensor frame of the rig's LiDAR."""
        xyz = points_ego[:, :3] @ self.ego2lidar[:3, :3].T + self.ego2lidar[:3, 3]
        xyz[:, 1] = -xyz[:, 1]
        return np.column_stack([xyz, points_ego[:, 3:4]]).astype(np.float32)

    def set_observation(self, obs) -> None:
        """The env's latest observation (holds the camera frame when the env renders one)."""
        self.last_obs = obs

    def camera_bgra(self) -> Optional[np.ndarray]:
        """(H, W, 4) BGRA uint8 front camera of the latest observation, None without a camera."""
        obs = getattr(self, 'last_obs', None)
        if not isinstance(obs, dict) or 'image' not in obs:
            return None
        img = np.asarray(obs['image'])
        if img.ndim == 4:  # (H, W, 3, stack): the newest frame is last
            img = img[..., -1]
        if img.dtype != np.uint8:
            img = np.clip(img * 255.0, 0, 255).astype(np.uint8)
        alpha = np.full(img.shape[:2] + (1,), 255, np.uint8)
        return np.concatenate([img[..., :3], alpha], axis=2)

    def read(self) -> dict:
        """This tick's ``input_data`` (``{sensor id: (frame, data)}``)."""
        xy, yaw = self.ego_pose()
        kin = self.kinematics()
        c, s = np.cos(yaw), np.sin(yaw)
        lon = kin['acceleration'][0] * c + kin['acceleration'][1] * s
        lat = -kin['acceleration'][0] * s + kin['acceleration'][1] * c
        yaw_rate = float(kin['angular_velocity'][2])
        lat_lon = world_to_gps(xy)
        f = self.frame
        data = dict(
            GPS=(f, np.array([lat_lon[0], lat_lon[1], 0.0])),
            IMU=(f, np.array([lon, -lat, 9.81, 0.0, 0.0, -yaw_rate, yaw_to_compass(yaw)])),
            SPEED=(f, {'speed': float(self.ego.speed)}),
            LIDAR=(f, self.to_carla_lidar(self.lidar_points_ego())),
        )
        if self.camera_rig:
            from .adapter import render_camera_view

            for name, mount in self.camera_rig.items():
                data[name] = (f, render_camera_view(self.env, mount))
        else:
            img = self.camera_bgra()
            if img is not None:
                data[self.camera_id] = (f, img)
        self.prev_vel = kin['velocity']
        self.last_kin, self.last_pose = kin, (xy, yaw)
        self.frame += 1
        return data

    def metric_info(self) -> dict:
        """Ego ground truth of the last :meth:`read` in Bench2Drive's metric_info layout.

        CARLA frame (y flipped, yaw clockwise in degrees, angular velocity deg/s), as
        :func:`mmautomot.closed_loop.leaderboard_agent.hero_metric_info` writes it.
        """
        if self.last_kin is None:
            raise RuntimeError('MetaDriveSensors.metric_info: call read() first (it measures this tick)')
        (xy, yaw), kin = self.last_pose, self.last_kin
        flip = np.array([1.0, -1.0, 1.0])
        fwd = np.array([np.cos(yaw), -np.sin(yaw), 0.0])
        right = np.array([np.sin(yaw), np.cos(yaw), 0.0])  # CARLA: right = (-f_y, f_x, 0)
        return dict(
            location=[float(xy[0]), float(-xy[1]), 0.0],
            rotation=[0.0, 0.0, float(-np.degrees(yaw))],
            forward_vector=fwd.tolist(),
            right_vector=right.tolist(),
            velocity=(kin['velocity'] * flip).tolist(),
            acceleration=(kin['acceleration'] * flip).tolist(),
            angular_velocity=(np.degrees(kin['angular_velocity']) * -flip).tolist(),
        )
