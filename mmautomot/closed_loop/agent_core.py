# Copyright (c) mmautomot contributors. All rights reserved.
"""The simulator-independent closed-loop agent: sensors in, vehicle control out (no ``carla`` import)."""

import copy
import logging
import time
from collections import deque
from typing import Callable, Dict, List, Optional

import numpy as np

from mmautomot.structures.geometry import ego_to_world, world_to_ego

from .controller import TrajectoryController
from .heuristics import Heuristics, HeuristicsConfig
from .preprocess import SensorPreprocessor
from .protocol import DriverProtocol, build_driver, step_driver, validate_driver_output
from .recorder import RunRecorder
from .route_planner import RoutePlanner
from .state import StateEstimator

logger = logging.getLogger(__name__)

#: defaults of every agent config section (``agent_config.json`` records the resolved values).
DEFAULT_AGENT_CFG = dict(
    sensors=[],  # leaderboard sensor dicts, see configs/_base_/closed_loop/
    preprocess=dict(jpeg_quality=None, resize=None, max_points=None),
    route=dict(min_distance=7.5, max_distance=50.0, lat_ref=0.0, lon_ref=0.0),
    control=dict(),  # TrajectoryController kwargs
    heuristics=dict(),  # HeuristicsConfig fields (all off by default)
    fallback=dict(max_plan_reuse_ticks=10, required_sensors=None),
    action_interval=1,  # call the driver every N control ticks, reuse the plan between
    ego_history=dict(steps=4, dt=0.5),  # past ego positions sent as ego_hist_trajs (steps=0: none)
    dt=0.05,  # 20 Hz CARLA fixed step
    prompt=None,
    instruction=None,  # free-text navigation instruction passed to the driver (LangAuto-style)
    flush_every=200,
)


def merge_cfg(cfg: Optional[dict]) -> dict:
    """Defaults of :data:`DEFAULT_AGENT_CFG` overridden by ``cfg`` (one level of dict merging)."""
    out = copy.deepcopy(DEFAULT_AGENT_CFG)
    for key, value in (cfg or {}).items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _sensor_ids(sensors: List[dict], prefix: str) -> List[str]:
    return [s['id'] for s in sensors if str(s.get('type', '')).startswith(prefix)]


class ClosedLoopAgent:
    """Drive from leaderboard-style sensor data with a :class:`DriverProtocol` model.

    Per tick (20 Hz): state estimation (GNSS / IMU / speedometer) -> route planner (target point,
    command) -> sensor preprocessing (BGRA -> RGB, optional JPEG round trip, LiDAR to the ego frame) ->
    ``driver.step`` every ``action_interval`` ticks (observation gets ``tick`` and ``reset`` so the
    driver's UE refresh policy can decide when the understanding expert refreshes its cache) ->
    :class:`TrajectoryController` -> opt-in :class:`Heuristics` -> control dict.

    Safe behaviour (never raises out of :meth:`run_step`):

    * A required sensor (``fallback.required_sensors``, default every camera and LiDAR of the rig) is
      missing or unreadable, the driver raises, or returns an invalid plan: the last valid plan is reused
      (moved into the current ego frame with the estimated ego motion) for up to
      ``fallback.max_plan_reuse_ticks`` ticks (default 10 = 0.5 s); after that, or without any plan,
      the agent brakes fully (steer 0, throttle 0, brake 1) until a fresh plan arrives.
    * NaN compass / missing GNSS or speed: see :class:`StateEstimator`. Until the ego state is valid
      (a finite GNSS fix and a finite compass have been seen, e.g. both NaN from the first tick) the
      agent brakes fully without running the route planner or the driver (mode ``invalid_state``);
      ``events.json`` gets an ``invalid_state`` event naming what is missing when this starts and a
      ``state_valid`` event with the number of braked ticks when it ends.

    Args:
        cfg (dict): agent config (sections of :data:`DEFAULT_AGENT_CFG`); ``driver`` (for
            :func:`build_driver`) is used only when ``driver`` is not passed.
        driver (DriverProtocol, optional): the model. Defaults to ``build_driver(cfg['driver'])``.
        save_dir (str, optional): route output folder for the JSON logs. Defaults to None.
        metric_provider (callable, optional): returns this tick's simulator ground truth for
            efficiency / comfort (see :mod:`mmautomot.closed_loop.recorder`); evaluation only, never
            fed to the model.
    """

    def __init__(
        self,
        cfg: Optional[dict] = None,
        driver: Optional[DriverProtocol] = None,
        save_dir: Optional[str] = None,
        metric_provider: Optional[Callable[[], Optional[dict]]] = None,
    ):
        self.cfg = merge_cfg(cfg)
        c = self.cfg
        sensors = c['sensors']
        self.camera_ids = _sensor_ids(sensors, 'sensor.camera')
        self.lidar_ids = _sensor_ids(sensors, 'sensor.lidar')
        self.gnss_id = next(iter(_sensor_ids(sensors, 'sensor.other.gnss')), 'GPS')
        self.imu_id = next(iter(_sensor_ids(sensors, 'sensor.other.imu')), 'IMU')
        self.speed_id = next(iter(_sensor_ids(sensors, 'sensor.speedometer')), 'SPEED')
        lidar_cfg = next((s for s in sensors if s['id'] in self.lidar_ids), None)
        mount = None if lidar_cfg is None else {k: float(lidar_cfg.get(k, 0.0)) for k in ('x', 'y', 'z', 'yaw')}
        cams = {s['id']: s.get('name', s['id']) for s in sensors if s['id'] in self.camera_ids}
        self.preprocess = SensorPreprocessor(cams, self.lidar_ids, mount, **c['preprocess'])
        self.planner = RoutePlanner(**c['route'])
        self.estimator = StateEstimator(c['route']['lat_ref'], c['route']['lon_ref'], dt=c['dt'])
        self.controller = TrajectoryController(**c['control'])
        self.heuristics = Heuristics(HeuristicsConfig(**c['heuristics']))
        fb = c['fallback']
        self.required = list(
            fb['required_sensors'] if fb['required_sensors'] is not None else self.camera_ids + self.lidar_ids
        )
        self.max_reuse = int(fb['max_plan_reuse_ticks'])
        self.driver = driver if driver is not None else build_driver(c.get('driver'))
        self.metric_provider = metric_provider
        self.recorder = RunRecorder(save_dir, c['flush_every'])
        resolved = dict(c, heuristics=self.heuristics.cfg.to_dict(), fallback=dict(fb, required_sensors=self.required))
        self.recorder.write_config(resolved)
        self.tick = 0
        self.plan = None  # last valid driver output (ego frame of plan_pose)
        self.instruction = c['instruction']
        self.plan_pose = None  # (xy, yaw) at which the plan was made
        self.plan_age = 0
        self.driver_calls = 0  # the first call of a route carries reset=True
        self.invalid_since = None  # first tick of the current run of invalid-state ticks
        hist = c['ego_history'] or {}
        self.hist_steps = int(hist.get('steps', 0) or 0)
        self.hist_stride = max(1, int(round(float(hist.get('dt', 0.5)) / float(c['dt']))))
        self.poses = deque()  # (tick, xy (2,), yaw) of every valid-state tick of the route, oldest first

    # ------------------------------------------------------------------ route
    def set_global_plan_gps(self, route) -> None:
        """``[(lat, lon, road_option_value), ...]`` from the leaderboard's global plan."""
        self.planner.set_route_gps(route)

    # ------------------------------------------------------------------ helpers
    def _plan_in_current_frame(self, xy, yaw) -> dict:
        out = dict(self.plan)
        pxy, pyaw = self.plan_pose
        for key in ('waypoints', 'path'):
            out[key] = world_to_ego(ego_to_world(self.plan[key], pxy, pyaw), xy, yaw)
        return out

    def _ego_history(self, xy, yaw) -> np.ndarray:
        """(steps, 2) float32 past ego positions every ``ego_history.dt`` s in the current ego frame, oldest
        first; each is the newest pose at or before its tick, the route's first pose before the start (as the
        dataset's ``ego_hist_trajs`` clamp to a route's first frame)."""
        tick = self.poses[-1][0]
        out = []
        for k in range(self.hist_steps, 0, -1):
            want = tick - k * self.hist_stride
            at = [p for p in self.poses if p[0] <= want]
            out.append((at[-1] if at else self.poses[0])[1])
        return world_to_ego(np.asarray(out, np.float64).reshape(-1, 2), xy, yaw).astype(np.float32)

    def _remember_pose(self, xy, yaw) -> None:
        if not self.hist_steps:
            return
        self.poses.append((self.tick, np.asarray(xy, np.float64).copy(), float(yaw)))
        oldest = self.tick - self.hist_steps * self.hist_stride
        while len(self.poses) > 1 and self.poses[1][0] <= oldest:
            self.poses.popleft()

    def _observation(self, images, points, state, route) -> dict:
        obs = dict(
            images=images,
            points=points if points is not None else np.zeros((0, 4), np.float32),
            speed=float(state.speed),
            target_point=np.asarray(route['target_point'], np.float32),
            command=int(route['command']),
            ego_status=state.ego_status,
            tick=self.tick,
            reset=self.driver_calls == 0,
        )
        if self.hist_steps and self.poses:
            obs['ego_hist_trajs'] = self._ego_history(state.xy, state.yaw)
        if self.cfg['prompt'] is not None:
            obs['prompt'] = self.cfg['prompt']
        if self.instruction is not None:
            obs['instruction'] = self.instruction
        return obs

    def set_instruction(self, text: Optional[str]) -> None:
        """Set (or clear with None) the free-text instruction sent with every later observation (a LangAuto
        route gives new instructions along the way); the agent config's ``instruction`` is the initial one."""
        if text is not None and not isinstance(text, str):
            raise TypeError(f'set_instruction: the instruction must be a str or None, got {type(text).__name__}')
        self.instruction = text

    # ------------------------------------------------------------------ main
    def run_step(self, input_data: dict, timestamp: float = 0.0) -> Dict[str, float]:
        """One control tick; returns ``dict(steer, throttle, brake)`` in CARLA's convention."""
        t0 = time.perf_counter()
        tick = self.tick
        lat = dict(mode='drive', driver_ms=0.0)
        try:
            control = self._run_step(input_data, lat)
        except Exception as err:  # noqa: BLE001 - a route must never crash on the agent side
            logger.exception('closed-loop agent tick %d failed; braking', tick)
            self.recorder.add_event(tick, 'agent_error', repr(err))
            control, lat['mode'] = dict(steer=0.0, throttle=0.0, brake=1.0), 'agent_error'
        lat['total_ms'] = (time.perf_counter() - t0) * 1e3
        info = None
        if self.metric_provider is not None:
            try:
                info = self.metric_provider()
            except Exception as err:  # noqa: BLE001
                self.recorder.add_event(tick, 'metric_provider_error', repr(err))
        if info is not None:
            info = dict(info, timestamp=float(timestamp))
        self.recorder.add_tick(tick, info, lat)
        self.tick += 1
        return {k: float(control[k]) for k in ('steer', 'throttle', 'brake')}

    def _run_step(self, input_data: dict, lat: dict) -> dict:
        tick = self.tick
        get = lambda sid: (input_data.get(sid) or (None, None))[1]  # noqa: E731
        state = self.estimator.update(get(self.gnss_id), get(self.imu_id), get(self.speed_id))
        if not state.valid:
            if self.invalid_since is None:
                self.invalid_since = tick
                self.recorder.add_event(
                    tick, 'invalid_state', f'{state.invalid_reason()}: braking until the ego state is valid'
                )
            lat['mode'] = 'invalid_state'
            self.controller.reset()
            return dict(steer=0.0, throttle=0.0, brake=1.0)
        if self.invalid_since is not None:
            self.recorder.add_event(
                tick, 'state_valid', f'ego state valid after {tick - self.invalid_since} braked ticks'
            )
            self.invalid_since = None
        self._remember_pose(state.xy, state.yaw)
        route = self.planner.run_step(state.xy, state.yaw)
        images, points, missing = self.preprocess(input_data)
        missing_required = [s for s in missing if s in self.required]
        failure = None
        if self.plan is None or tick % int(self.cfg['action_interval']) == 0:
            if missing_required:
                failure = f'missing sensors {missing_required}'
            else:
                t1 = time.perf_counter()
                try:
                    obs = self._observation(images, points, state, route)
                    self.driver_calls += 1
                    out = validate_driver_output(step_driver(self.driver, obs))
                    self.plan, self.plan_pose, self.plan_age = out, (state.xy.copy(), state.yaw), 0
                    lat.update({f'driver_{k}': v for k, v in out['timings_ms'].items()})
                    lat.update({f'driver_{k}': v for k, v in dict(out.get('info') or {}).items()})
                    # UE refresh mode, age of the cache the AE read, whether a background refresh was running
                    lat.update({f'ue_refresh_{k}': v for k, v in dict(out.get('ue_refresh') or {}).items()})
                except Exception as err:  # noqa: BLE001
                    failure = f'driver error: {err!r}'
                lat['driver_ms'] = (time.perf_counter() - t1) * 1e3
        else:
            lat['mode'] = 'between_actions'
        if failure is not None:
            self.recorder.add_event(tick, 'fallback', failure)
            self.plan_age += 1
            if self.plan is None or self.plan_age > self.max_reuse:
                lat['mode'] = 'fallback_brake'
                self.controller.reset()
                return dict(steer=0.0, throttle=0.0, brake=1.0)
            lat['mode'] = 'fallback_reuse'
        elif lat['mode'] == 'between_actions':
            self.plan_age += 1
        plan = self._plan_in_current_frame(state.xy, state.yaw)
        cap = self.heuristics.cfg.speed_cap
        control = self.controller.step(plan['waypoints'], state.speed, plan['path'], speed_cap=cap)
        fired = self.heuristics.apply(control, state.speed, points)
        if fired:
            self.recorder.add_event(tick, 'heuristic', fired)
            lat['heuristic'] = fired
        lat['command'] = route['command']
        return control

    def destroy(self) -> None:
        """Flush the logs and close the driver if it has ``close()``."""
        self.recorder.close()
        close = getattr(self.driver, 'close', None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001
                logger.exception('driver.close failed')
