# Copyright (c) mmautomot contributors. All rights reserved.
"""Per-route JSON logs of a closed-loop run: agent config, per-tick metric_info and latency.

Files written in the route's save dir:

* ``agent_config.json``: the resolved agent config, including every heuristic flag and its value.
* ``metric_info.json``: ``{tick (str): {location, rotation, forward_vector, right_vector, velocity,
  acceleration, angular_velocity}}`` as read from the simulator, in the format Bench2Drive's agents
  write (CARLA frame, left-handed: location m, rotation ``[roll, pitch, yaw]`` degrees, forward / right
  unit vectors, velocity m/s, acceleration m/s^2, angular velocity deg/s), one entry per agent tick;
  written by :func:`mmautomot.closed_loop.leaderboard_agent.hero_metric_info`, read by
  :mod:`mmautomot.closed_loop.comfort`.
* ``latency.json``: ``{tick (str): {total_ms, driver_ms, <driver timings_ms>..., mode}}``; with an
  ``mmautomot.apis.Driver`` also ``ue_refresh_mode`` / ``ue_refresh_cache_age`` / ``ue_refresh_cache_tick`` /
  ``ue_refresh_refresh_in_flight`` / ``ue_refresh_swapped`` (the UE refresh policy's view of the tick).
* ``events.json``: fallbacks (sensor dropouts, driver errors, plan reuse, heuristics firing).
"""

import json
import os
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Recursively turn numpy values into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def write_json(path: str, obj: Any) -> None:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file."""
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(to_jsonable(obj), f, indent=1)
    os.replace(tmp, path)


class RunRecorder:
    """Collect per-tick logs of one route and write them to ``save_dir``.

    Args:
        save_dir (str, optional): route output folder (created). None = keep in memory only.
        flush_every (int): write the files every this many ticks (and at :meth:`close`).
            Defaults to 200 (10 s at 20 Hz).
    """

    def __init__(self, save_dir: Optional[str] = None, flush_every: int = 200):
        self.save_dir = save_dir
        self.flush_every = int(flush_every)
        self.metric_info: Dict[str, dict] = {}
        self.latency: Dict[str, dict] = {}
        self.events: list = []
        if save_dir:
            os.makedirs(save_dir, exist_ok=True)

    def write_config(self, cfg: dict) -> None:
        if self.save_dir:
            write_json(osp.join(self.save_dir, 'agent_config.json'), cfg)

    def add_tick(self, tick: int, metric_info: Optional[dict], latency: dict) -> None:
        if metric_info is not None:
            self.metric_info[str(tick)] = to_jsonable(metric_info)
        self.latency[str(tick)] = to_jsonable(latency)
        if self.save_dir and self.flush_every > 0 and (tick + 1) % self.flush_every == 0:
            self.flush()

    def add_event(self, tick: int, kind: str, message: str) -> None:
        self.events.append(dict(tick=int(tick), kind=kind, message=message))

    def flush(self) -> None:
        if not self.save_dir:
            return
        write_json(osp.join(self.save_dir, 'metric_info.json'), self.metric_info)
        write_json(osp.join(self.save_dir, 'latency.json'), self.latency)
        write_json(osp.join(self.save_dir, 'events.json'), self.events)

    def close(self) -> None:
        self.flush()
