# Copyright (c) mmautomot contributors. All rights reserved.
"""One MetaDrive episode driven by the Bench2Drive agent core (:class:`ClosedLoopAgent`).

Per tick: :class:`MetaDriveSensors` -> ``ClosedLoopAgent.run_step`` (state estimation, route planner,
driver, controller) -> CARLA-style control -> MetaDrive action ``[steer, throttle - brake]`` (MetaDrive
steers positive to the left, CARLA to the right). Collisions do not end the episode (the leaderboard
penalises them and drives on); the episode ends at the destination, after ``max_steps`` (route timeout),
when the ego has not moved for ``blocked_s`` (blocked), after ``offroad_s`` off the road in a row (route
deviation), or on a fault. Faults (a simulator exception, a NaN ego state, a model exception) end the
episode as a recorded failure with the reason; they never escape :func:`run_episode`.
"""

import logging
import math
import os
import os.path as osp
import time
import traceback
from typing import Callable, Dict, Optional

import numpy as np

from ..agent_core import ClosedLoopAgent
from ..recorder import write_json
from .delay import ActionDelay
from .lights import front_point, red_light_crossings
from .scoring import CRASH_TYPES, empty_infractions, make_record
from .sensors import MetaDriveSensors, route_from_navigation

logger = logging.getLogger(__name__)

#: ``latency``: None (actions act at once), ``'measured'`` (each action is held back by the agent's
#: compute time of its tick, :class:`ActionDelay`) or an int number of ticks.
#: ``max_lateral_m``: on scenario maps, off the road = farther than this from the recorded SDC route.
#: ``camera_rig``: camera name -> mount (:func:`~.sensors.six_camera_rig`) rendered every tick, or None.
DEFAULT_EPISODE_CFG = dict(
    max_steps=1200, blocked_s=20.0, offroad_s=3.0, traffic_radius=50.0, latency=None, max_lateral_m=4.0, camera_rig=None
)


class EpisodeFault(RuntimeError):
    """An episode cannot go on (the message is the recorded reason)."""


def _crash_flags(vehicle) -> Dict[str, bool]:
    return {k: bool(getattr(vehicle, k, False)) for k in CRASH_TYPES}


def _off_reference(ego, max_lateral: float) -> bool:
    """On a scenario map: the ego is farther than ``max_lateral`` m from the recorded SDC route."""
    nav = ego.navigation
    if getattr(nav, 'reference_trajectory', None) is None:
        return False
    return abs(float(nav.current_lateral)) > max_lateral


def _traffic_speed(env, ego, radius: float) -> Optional[float]:
    xy = np.asarray(ego.position)[:2]
    speeds = []
    for obj in env.engine.get_objects().values():
        if obj is ego or not hasattr(obj, 'speed') or not hasattr(obj, 'navigation'):
            continue
        if np.linalg.norm(np.asarray(obj.position)[:2] - xy) < radius:
            speeds.append(float(obj.speed))
    return float(np.mean(speeds)) if speeds else None


def run_episode(
    env,
    driver,
    agent_cfg: dict,
    seed: int,
    episode_id: str = '0',
    save_dir: Optional[str] = None,
    episode_cfg: Optional[dict] = None,
    on_tick: Optional[Callable[[dict], None]] = None,
) -> dict:
    """Drive one episode of ``env`` (reset with ``seed``) and return its result.

    Args:
        env: a MetaDrive env built by :func:`mmautomot.closed_loop.metadrive.make_env` with
            ``crash_*_done=False`` and ``out_of_road_done=False`` (see :func:`closed_loop_env_overrides`).
        driver: a :class:`~mmautomot.closed_loop.DriverProtocol` (model, baseline or fake).
        agent_cfg (dict): the agent config (``configs/_base_/closed_loop/metadrive_agent.py``).
        seed (int): scenario seed (map, spawn and traffic).
        save_dir (str, optional): episode folder for the agent's JSON logs.
        episode_cfg (dict, optional): :data:`DEFAULT_EPISODE_CFG` overrides.
        on_tick (callable, optional): called with the per-tick log entry (e.g. a data collector).

    Returns:
        dict: ``episode``, ``seed``, ``record`` (leaderboard format), ``failure`` (None or the reason),
        ``steps``, ``trajectory`` (T, 2) world, ``route`` (M, 2) dense route, ``metric_info`` (per-tick
        log), ``sim_s`` / ``wall_s``.
    """
    ecfg = dict(DEFAULT_EPISODE_CFG, **(episode_cfg or {}))
    dt = float(agent_cfg.get('dt', 0.05))
    t_start = time.perf_counter()
    failure, status = None, None
    infractions = empty_infractions()
    traj, ticks, offroad_ticks, ego_speeds, traffic_speeds = [], 0, 0, [], []
    route_dense = np.zeros((0, 2))
    agent = None
    rc = 0.0
    try:
        try:
            obs, _ = env.reset(seed=int(seed))
        except Exception as err:  # noqa: BLE001
            raise EpisodeFault(f'simulator error at reset: {err!r}') from err
        ego = env.agent
        lidar = next(
            (s for s in agent_cfg.get('sensors', []) if str(s.get('type', '')).startswith('sensor.lidar')), None
        )
        mount = None if lidar is None else {k: float(lidar.get(k, 0.0)) for k in ('x', 'y', 'z', 'yaw')}
        sensors = MetaDriveSensors(env, dt=dt, lidar_mount=mount, camera_rig=ecfg.get('camera_rig'))
        sensors.set_observation(obs)
        points, options, route_dense = route_from_navigation(ego.navigation)
        agent = ClosedLoopAgent(agent_cfg, driver=driver, save_dir=save_dir, metric_provider=sensors.metric_info)
        agent.planner.set_route_world(points, options)
        prev_crash, prev_front = _crash_flags(ego), front_point(ego)
        lat = ecfg['latency']
        delay = None if lat is None else ActionDelay(dt, None if lat == 'measured' else int(lat))
        # MetaDrive counts the spawn point's distance along the first road as completed; the
        # leaderboard's route starts at the spawn point, so completion is rescaled from there.
        rc0 = float(np.clip(ego.navigation.route_completion, 0.0, 0.99))
        still_ticks, offroad_run = 0, 0
        blocked_ticks = int(ecfg['blocked_s'] / dt)
        for step in range(int(ecfg['max_steps'])):
            pos = np.asarray(ego.position, dtype=np.float64)[:2]
            if not (
                np.isfinite(pos).all() and math.isfinite(float(ego.heading_theta)) and math.isfinite(float(ego.speed))
            ):
                raise EpisodeFault(
                    f'NaN ego state at tick {step}: position {pos.tolist()}, '
                    f'heading {ego.heading_theta}, speed {ego.speed}'
                )
            traj.append(pos.copy())
            try:
                input_data = sensors.read()
            except Exception as err:  # noqa: BLE001
                raise EpisodeFault(f'simulator error reading sensors at tick {step}: {err!r}') from err
            n_events = len(agent.recorder.events)
            control = agent.run_step(input_data, timestamp=step * dt)
            model_err = [
                e
                for e in agent.recorder.events[n_events:]
                if e['kind'] == 'agent_error' or 'driver error' in e['message']
            ]
            if model_err:
                raise EpisodeFault(f'model exception at tick {step}: {model_err[0]["message"]}')
            action = [-float(control['steer']), float(control['throttle']) - float(control['brake'])]
            if delay is not None:
                compute_s = agent.recorder.latency[str(agent.tick - 1)].get('total_ms', 0.0) / 1e3
                action = delay.push(step, action, compute_s)
            try:
                obs, _, terminated, truncated, info = env.step(action)
                sensors.set_observation(obs)
            except Exception as err:  # noqa: BLE001
                raise EpisodeFault(f'simulator error at tick {step}: {err!r}') from err
            ticks += 1
            rc = max(rc, (float(info.get('route_completion', rc0)) - rc0) / (1.0 - rc0))
            crash = _crash_flags(ego)
            for flag, name in CRASH_TYPES.items():
                if crash[flag] and not prev_crash[flag]:  # one infraction per contact (rising edge)
                    infractions[name].append(f'{flag} at tick {step} (t = {step * dt:.2f} s)')
            prev_crash = crash
            for light in red_light_crossings(env, ego, prev_front):  # one infraction per stop line crossed
                infractions['red_light'].append(f'ran red light {light} at tick {step} (t = {step * dt:.2f} s)')
            prev_front = front_point(ego)
            off = bool(info.get('out_of_road', False)) or _off_reference(ego, ecfg['max_lateral_m'])
            offroad_ticks += off
            offroad_run = offroad_run + 1 if off else 0
            ego_speeds.append(float(ego.speed))
            ts = _traffic_speed(env, ego, ecfg['traffic_radius'])
            if ts is not None:
                traffic_speeds.append(ts)
            still_ticks = still_ticks + 1 if ego.speed < 0.1 else 0
            if on_tick is not None:
                on_tick(dict(step=step, input_data=input_data, control=control, info=info, sensors=sensors))
            if info.get('arrive_dest'):
                status = 'Completed'
                rc = 1.0
                break
            if offroad_run * dt >= ecfg['offroad_s']:
                status = 'Failed - Agent deviated from the route'
                infractions['route_dev'].append(f'off the road for {ecfg["offroad_s"]} s at tick {step}')
                break
            if still_ticks >= blocked_ticks:
                status = 'Failed - Agent got blocked'
                infractions['vehicle_blocked'].append(f'not moving for {ecfg["blocked_s"]} s at tick {step}')
                break
            if terminated or truncated:
                status = 'Failed - Simulation ended'
                break
        else:
            status = 'Failed - Route timeout'
            infractions['route_timeout'].append(f'route not completed in {ecfg["max_steps"]} ticks')
    except EpisodeFault as err:
        failure = str(err)
        status = 'Failed - ' + failure.split(' at ')[0].split(':')[0]
        logger.warning('episode %s (seed %s) failed: %s', episode_id, seed, failure)
    except Exception as err:  # noqa: BLE001 - never let one episode end the evaluation
        failure = f'unexpected error: {err!r}'
        status = 'Failed - Unexpected error'
        logger.error('episode %s (seed %s): %s', episode_id, seed, traceback.format_exc())
    finally:
        if agent is not None:
            agent.destroy()
    if traffic_speeds and ego_speeds:
        pct = 100.0 * float(np.mean(ego_speeds)) / max(float(np.mean(traffic_speeds)), 1e-6)
        infractions['min_speed_infractions'].append(
            f"Average agent speed is {pct:.1f}% of the surrounding traffic's one"
        )
    record = make_record(
        episode_id,
        rc,
        infractions,
        status,
        offroad_ticks / max(ticks, 1),
        meta=dict(seed=int(seed), ticks=ticks, failure=failure),
    )
    metric_info = dict(agent.recorder.metric_info) if agent is not None else {}
    result = dict(
        episode=str(episode_id),
        seed=int(seed),
        record=record,
        failure=failure,
        steps=ticks,
        trajectory=np.asarray(traj).reshape(-1, 2),
        route=route_dense,
        metric_info=metric_info,
        sim_s=ticks * dt,
        wall_s=time.perf_counter() - t_start,
    )
    if save_dir:
        os.makedirs(save_dir, exist_ok=True)
        write_json(osp.join(save_dir, 'record.json'), record)
    return result


def closed_loop_env_overrides(dt: float = 0.05, kind: str = 'pg') -> dict:
    """MetaDrive settings of a Bench2Drive-like episode: collisions and leaving the road do not end it
    (the scoring penalises them), the physics steps ``dt`` per control tick (20 Hz by default).

    ``kind='scenario'`` (``ScenarioEnv``): its out-of-road end (lateral distance from the recorded SDC
    route above ``max_lateral_dist``) is switched off; :func:`run_episode` measures that distance itself
    (``episode.max_lateral_m``) and applies the same ``offroad_s`` rule as on procedural maps. The
    scenario files must be converted with the same ``dt`` (one scenario frame per tick).
    """
    repeat = 2
    out = dict(
        crash_vehicle_done=False,
        crash_object_done=False,
        crash_human_done=False,
        horizon=None,
        decision_repeat=repeat,
        physics_world_step_size=dt / repeat,
    )
    if kind == 'scenario':
        out.update(relax_out_of_road_done=True, max_lateral_dist=1e9)
    else:
        out.update(out_of_road_done=False, on_continuous_line_done=False)
    return out
