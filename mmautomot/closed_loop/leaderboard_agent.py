# Copyright (c) mmautomot contributors. All rights reserved.
"""CARLA leaderboard 2.0 / Bench2Drive adapter: pass this file as ``--agent`` to the leaderboard.

``--agent-config`` is an mmengine config file (``.py``) holding an ``agent`` dict (see
``configs/_base_/closed_loop/``): the sensor rig, the driver (in-process model or model server), the
controller, the heuristic flags. The only module of mmautomot that imports ``carla``, ``leaderboard``
and ``srunner``; it fails with a clear message when the leaderboard is not on ``PYTHONPATH``.

Outputs go to ``$SAVE_PATH/<route>/`` (``SAVE_PATH`` as set by Bench2Drive's evaluation scripts,
else ``agent.save_dir`` of the config, else nothing is written): ``agent_config.json``,
``metric_info.json``, ``latency.json``, ``events.json``.
"""

import os
import os.path as osp
import time

try:
    import carla
    from leaderboard.autoagents.autonomous_agent import AutonomousAgent, Track
except ImportError as _err:  # pragma: no cover - depends on the user's environment
    raise ImportError(
        'mmautomot.closed_loop.leaderboard_agent needs the CARLA client (`carla`) and the CARLA '
        "leaderboard 2.0 packages (`leaderboard`, `scenario_runner`'s `srunner`) importable: put the "
        'leaderboard/ and scenario_runner/ folders of your Bench2Drive checkout on PYTHONPATH '
        f'(see mmautomot/closed_loop/README.md). Original error: {_err}'
    ) from _err

from .agent_core import ClosedLoopAgent

#: keys of our sensor dicts that are not CARLA sensor attributes (stripped in :meth:`sensors`).
_EXTRA_SENSOR_KEYS = ('name',)


def get_entry_point() -> str:
    """The leaderboard looks the agent class up by this name."""
    return 'MMAutoMoTAgent'


def _vec(v) -> list:
    return [float(v.x), float(v.y), float(v.z)]


def hero_metric_info(actor) -> dict:
    """Simulator ground truth of the ego for comfort, in Bench2Drive's metric_info format.

    CARLA frame and units; ``rotation`` is ``[roll, pitch, yaw]`` degrees and ``forward_vector`` /
    ``right_vector`` are the unit heading axes (the layout Bench2Drive's agents write, see
    :mod:`mmautomot.closed_loop.recorder`).
    """
    tf = actor.get_transform()
    rot = tf.rotation
    return dict(
        location=_vec(tf.location),
        rotation=[float(rot.roll), float(rot.pitch), float(rot.yaw)],
        forward_vector=_vec(tf.get_forward_vector()),
        right_vector=_vec(tf.get_right_vector()),
        velocity=_vec(actor.get_velocity()),
        acceleration=_vec(actor.get_acceleration()),
        angular_velocity=_vec(actor.get_angular_velocity()),
    )


def _load_agent_cfg(path: str) -> dict:
    from mmengine.config import Config

    if not path or not osp.isfile(path):
        raise FileNotFoundError(
            f'MMAutoMoTAgent: agent config {path!r} not found (pass it as --agent-config to the leaderboard)'
        )
    cfg = Config.fromfile(path)
    if 'agent' not in cfg:
        raise KeyError(f"MMAutoMoTAgent: {path} has no 'agent' dict (keys: {sorted(cfg.keys())})")
    return cfg.to_dict()['agent']


class MMAutoMoTAgent(AutonomousAgent):
    """Leaderboard agent wrapping :class:`ClosedLoopAgent` (SENSORS track, 20 Hz)."""

    def setup(self, path_to_conf_file, *args, **kwargs):
        self.track = Track.SENSORS
        self.agent_cfg = _load_agent_cfg(path_to_conf_file)
        self._core = None
        self._route_name = os.environ.get('ROUTES_SUBSET') or time.strftime('%Y%m%d_%H%M%S')
        self._save_root = os.environ.get('SAVE_PATH') or self.agent_cfg.get('save_dir')

    def sensors(self):
        """The rig of ``agent.sensors`` (e.g. AutoMoT: front camera 1024x512 FOV 110, LiDAR, IMU,
        GNSS, speedometer; Drive-pi0: 6 cameras)."""
        return [{k: v for k, v in s.items() if k not in _EXTRA_SENSOR_KEYS} for s in self.agent_cfg['sensors']]

    def _metric_provider(self):
        from srunner.scenariomanager.carla_data_provider import CarlaDataProvider

        hero = CarlaDataProvider.get_hero_actor()
        return None if hero is None else hero_metric_info(hero)

    def _init_core(self):
        save_dir = None
        if self._save_root:
            save_dir = osp.join(self._save_root, str(self._route_name))
        self._core = ClosedLoopAgent(self.agent_cfg, save_dir=save_dir, metric_provider=self._metric_provider)
        route = [
            (float(gps['lat']), float(gps['lon']), int(getattr(opt, 'value', opt))) for gps, opt in self._global_plan
        ]
        self._core.set_global_plan_gps(route)

    def run_step(self, input_data, timestamp):
        if self._core is None:
            self._init_core()
        out = self._core.run_step(input_data, timestamp)
        control = carla.VehicleControl()
        control.steer, control.throttle, control.brake = out['steer'], out['throttle'], out['brake']
        return control

    def destroy(self):
        if getattr(self, '_core', None) is not None:
            self._core.destroy()
            self._core = None
