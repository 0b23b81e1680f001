# Copyright (c) mmautomot contributors. All rights reserved.
"""The driver protocol the closed-loop agent talks to (in-process model, remote server, or a fake).

``mmautomot.apis.Driver`` implements it; :class:`mmautomot.closed_loop.server.RemoteDriver` forwards it
over loopback TCP. Everything crossing it is plain Python / numpy, never torch.
"""
from typing import Any, Dict, Optional, Protocol, runtime_checkable

import numpy as np

#: keys :meth:`DriverProtocol.step` must return.
REQUIRED_OUTPUT_KEYS = ('meta_actions', 'path', 'waypoints')


@runtime_checkable
class DriverProtocol(Protocol):
    """One planning step from one observation.

    ``observation`` (plain numpy, ego frame x forward / y left / z up, metres, seconds):

    * ``images``: ``{cam_name: (H, W, 3) uint8 RGB}`` (``CAM_FRONT`` always when a camera is rigged).
    * ``points``: (N, 4) float32 LiDAR (x, y, z, intensity) in the ego frame.
    * ``speed``: float, m/s.
    * ``target_point``: (2,) float32 next route target in the ego frame.
    * ``command``: int, index into :data:`mmautomot.structures.COMMANDS`.
    * ``ego_status`` (optional): (4,) float32 speed, lon acc, lat acc, yaw rate (rad/s, CCW +).
    * ``prompt`` (optional): str, the understanding-expert prompt.
    * ``tick`` (added by the agent): int, control tick since the route started (20 Hz). The driver's
      UE/AE scheduler decides from it whether the understanding expert refreshes its cache.
    * ``reset`` (added by the agent): bool, True on the first tick of a route (drop any cache).

    Returns a dict with ``meta_actions`` (3, 2) int, ``path`` (P, 2), ``waypoints`` (T, 2) (ego
    frame, ``waypoints`` every 0.5 s) and ``timings_ms`` (dict of stage -> milliseconds).
    """

    def step(self, observation: Dict[str, Any]) -> Dict[str, Any]:
        ...


class DriverOutputError(ValueError):
    """A driver returned something that is not a valid plan."""


def validate_driver_output(out: Any) -> Dict[str, Any]:
    """Check a driver's output and return it with numpy float arrays.

    Raises:
        DriverOutputError: not a dict, a required key missing, wrong shapes or non-finite values.
    """
    if not isinstance(out, dict):
        raise DriverOutputError(f'driver.step must return a dict, got {type(out).__name__}')
    missing = [k for k in REQUIRED_OUTPUT_KEYS if k not in out]
    if missing:
        raise DriverOutputError(f'driver output lacks {missing} (got keys {sorted(out)})')
    res = dict(out)
    for key in ('path', 'waypoints'):
        arr = np.asarray(out[key], dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
            raise DriverOutputError(f'driver output {key!r} must be (N, 2), got {arr.shape}')
        if not np.isfinite(arr).all():
            raise DriverOutputError(f'driver output {key!r} has non-finite values')
        res[key] = arr
    res['meta_actions'] = np.asarray(out['meta_actions']).astype(np.int64).reshape(-1, 2)
    res['timings_ms'] = {str(k): float(v) for k, v in dict(out.get('timings_ms') or {}).items()}
    return res


def step_driver(driver: DriverProtocol, observation: Dict[str, Any]) -> Any:
    """``driver.step(observation)``, first calling ``driver.reset()`` (where the driver has one) when
    ``observation['reset']`` is true, so a driver reused across routes (a long-lived model server, or
    one passed to several agents) never carries a cache or camera history from the previous route.
    Harmless for drivers that also honour ``reset`` themselves."""
    if observation.get('reset'):
        reset = getattr(driver, 'reset', None)
        if callable(reset):
            reset()
    return driver.step(observation)


def build_driver(cfg: Optional[dict]) -> DriverProtocol:
    """Build the driver an agent config names.

    Args:
        cfg (dict): ``dict(type='local', config=PATH, checkpoint=PATH | None, device='cuda',
            driver_kwargs=dict(...))`` loads the model in-process with ``mmautomot.apis.init_model`` and
            wraps it in ``mmautomot.apis.Driver(model, **driver_kwargs)`` (e.g. the UE/AE scheduler
            settings); ``dict(type='remote', host='127.0.0.1', port=PORT, timeout=60.0)`` connects to
            ``tools/bench2drive/serve_model.py``.
    """
    if not cfg or 'type' not in cfg:
        raise ValueError(f"driver config needs type='local' or 'remote', got {cfg!r}")
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if kind == 'remote':
        from .server import RemoteDriver
        return RemoteDriver(**cfg)
    if kind == 'local':
        from mmautomot.apis import Driver, init_model  # heavy: torch + the model zoo
        model = init_model(cfg['config'], cfg.get('checkpoint'), device=cfg.get('device', 'cpu'))
        return Driver(model, **cfg.get('driver_kwargs', {}))
    raise ValueError(f"driver type must be 'local' or 'remote', got {kind!r}")
