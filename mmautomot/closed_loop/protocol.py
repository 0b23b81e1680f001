# Copyright (c) mmautomot contributors. All rights reserved.
"""The driver protocol the closed-loop agent talks to (in-process model, remote server, or a fake).

``mmautomot.apis.Driver`` implements it; :class:`mmautomot.closed_loop.client.RemoteDriver` forwards it
over loopback TCP (:mod:`mmautomot.closed_loop.server` checks each observation with
:func:`validate_observation` first). Everything crossing it is plain Python / numpy, never torch.
"""

import numbers
from typing import Any, Dict, Optional, Protocol, runtime_checkable

import numpy as np

from mmautomot.structures.commands import COMMANDS

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
    * ``ego_hist_trajs`` (optional, added by the agent): (H, 2) float32 past ego positions in the current ego
      frame, oldest first, every 0.5 s by default (the dataset's spacing; agent config ``ego_history``).
    * ``prompt`` (optional): str, the understanding-expert prompt.
    * ``instruction`` (optional): str, a free-text navigation instruction (LangAuto-style; SAMoE-VLA reads it,
      falling back to the command's sentence when absent).
    * ``tick`` (added by the agent): int, control tick since the route started (20 Hz). The driver's
      UE refresh policy decides from it whether the understanding expert refreshes its cache.
    * ``reset`` (added by the agent): bool, True on the first tick of a route (drop any cache).

    Returns a dict with ``meta_actions`` (3, 2) int, ``path`` (P, 2), ``waypoints`` (T, 2) (ego
    frame, ``waypoints`` every 0.5 s) and ``timings_ms`` (dict of stage -> milliseconds).
    """

    def step(self, observation: Dict[str, Any]) -> Dict[str, Any]: ...


class ObservationError(ValueError):
    """An observation does not follow :class:`DriverProtocol` (the message names the key)."""


#: limits :func:`validate_observation` enforces (a model server's first line of defence).
OBSERVATION_LIMITS = dict(max_cameras=16, max_hist=32, max_side=8192, max_points=4_000_000, max_prompt=8192)
_OBS_KEYS = (
    'images',
    'points',
    'speed',
    'target_point',
    'command',
    'ego_status',
    'prompt',
    'tick',
    'reset',
    'img_hist',
    'instruction',
    'ego_hist_trajs',
)


def _number(obs: dict, key: str) -> float:
    value = obs[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise ObservationError(f'observation {key!r} must be a finite number, got {str(value)[:40]!r}')
    return float(value)


def _vector(obs: dict, key: str, n: int) -> None:
    value = obs[key]
    ok = isinstance(value, (list, np.ndarray)) and len(value) == n
    if ok:
        try:
            arr = np.asarray(value, dtype=np.float64)
            ok = arr.shape == (n,) and bool(np.isfinite(arr).all())
        except (TypeError, ValueError):
            ok = False
    if not ok:
        raise ObservationError(f'observation {key!r} must be {n} finite numbers')


def _image(value: Any, what: str, lim: dict) -> None:
    if (
        not isinstance(value, np.ndarray)
        or value.dtype != np.uint8
        or value.ndim != 3
        or value.shape[2] != 3
        or not 0 < value.shape[0] <= lim['max_side']
        or not 0 < value.shape[1] <= lim['max_side']
    ):
        got = f'{value.dtype} {value.shape}' if isinstance(value, np.ndarray) else type(value).__name__
        raise ObservationError(
            f'observation {what} must be an (H, W, 3) uint8 array with 0 < H, W <= {lim["max_side"]}, got {got}'
        )


def validate_observation(obs: Any, limits: Optional[dict] = None) -> Dict[str, Any]:
    """Check an observation against :class:`DriverProtocol` before a driver sees it.

    Every key is checked (type, dtype, shape, finiteness, size limits of :data:`OBSERVATION_LIMITS`);
    unknown keys are refused.

    Returns:
        dict: ``obs`` itself.

    Raises:
        ObservationError: naming the first bad key.
    """
    lim = dict(OBSERVATION_LIMITS, **(limits or {}))
    if not isinstance(obs, dict):
        raise ObservationError(f'observation must be a dict, got {type(obs).__name__}')
    unknown = sorted(str(k)[:40] for k in obs if k not in _OBS_KEYS)
    if unknown:
        raise ObservationError(f'observation has unknown keys {unknown[:10]} (known: {list(_OBS_KEYS)})')
    missing = [k for k in ('images', 'points', 'speed', 'target_point', 'command') if k not in obs]
    if missing:
        raise ObservationError(f'observation lacks {missing}')
    images = obs['images']
    if not isinstance(images, dict) or not 0 < len(images) <= lim['max_cameras']:
        raise ObservationError(f"observation 'images' must map 1..{lim['max_cameras']} camera names to images")
    for name, img in images.items():
        if len(name) > 64:
            raise ObservationError('observation images: camera names are at most 64 characters')
        _image(img, f'images[{name!r}]', lim)
    pts = obs['points']
    if (
        not isinstance(pts, np.ndarray)
        or pts.dtype.kind != 'f'
        or pts.ndim != 2
        or pts.shape[1] != 4
        or pts.shape[0] > lim['max_points']
    ):
        got = f'{pts.dtype} {pts.shape}' if isinstance(pts, np.ndarray) else type(pts).__name__
        raise ObservationError(
            f"observation 'points' must be an (N, 4) float array with N <= {lim['max_points']}, got {got}"
        )
    if not np.isfinite(pts).all():
        raise ObservationError("observation 'points' has non-finite values")
    _number(obs, 'speed')
    _vector(obs, 'target_point', 2)
    cmd = obs['command']
    if isinstance(cmd, bool) or not isinstance(cmd, numbers.Integral) or not 0 <= cmd < len(COMMANDS):
        raise ObservationError(f"observation 'command' must be an int in [0, {len(COMMANDS)}), got {str(cmd)[:40]!r}")
    if obs.get('ego_status') is not None:
        _vector(obs, 'ego_status', 4)
    ehist = obs.get('ego_hist_trajs')
    if ehist is not None:
        arr = np.asarray(ehist) if isinstance(ehist, (list, np.ndarray)) else None
        if (
            arr is None
            or arr.dtype.kind not in 'fi'
            or arr.ndim != 2
            or arr.shape[1] != 2
            or not 0 < len(arr) <= lim['max_hist']
            or not np.isfinite(arr).all()
        ):
            got = f'{arr.dtype} {arr.shape}' if arr is not None else type(ehist).__name__
            raise ObservationError(
                f"observation 'ego_hist_trajs' must be a finite (H, 2) float array with 1 <= H <= {lim['max_hist']}, "
                f'got {got}'
            )
    prompt = obs.get('prompt')
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > lim['max_prompt']):
        raise ObservationError(f"observation 'prompt' must be a string of at most {lim['max_prompt']} characters")
    instruction = obs.get('instruction')
    if instruction is not None and (not isinstance(instruction, str) or len(instruction) > lim['max_prompt']):
        raise ObservationError(f"observation 'instruction' must be a string of at most {lim['max_prompt']} characters")
    tick = obs.get('tick')
    if tick is not None and (isinstance(tick, bool) or not isinstance(tick, numbers.Integral) or tick < 0):
        raise ObservationError(f"observation 'tick' must be a non-negative int, got {str(tick)[:40]!r}")
    if 'reset' in obs and not isinstance(obs['reset'], (bool, np.bool_)):
        raise ObservationError(f"observation 'reset' must be a bool, got {type(obs['reset']).__name__}")
    hist = obs.get('img_hist')
    if hist is not None:
        if not isinstance(hist, list) or not 0 < len(hist) <= lim['max_hist']:
            raise ObservationError(f"observation 'img_hist' must be a list of 1..{lim['max_hist']} images")
        for i, img in enumerate(hist):
            _image(img, f'img_hist[{i}]', lim)
    return obs


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
            wraps it in ``mmautomot.apis.Driver(model, **driver_kwargs)`` (e.g. the UE refresh
            policy settings); ``dict(type='remote', host='127.0.0.1', port=PORT, timeout=60.0)`` connects to
            ``tools/bench2drive/serve_model.py`` (:class:`~mmautomot.closed_loop.client.RemoteDriver`;
            the shared secret comes from the environment or ``secret_file=PATH``).
    """
    if not cfg or 'type' not in cfg:
        raise ValueError(f"driver config needs type='local' or 'remote', got {cfg!r}")
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if kind == 'remote':
        from .client import RemoteDriver

        return RemoteDriver(**cfg)
    if kind == 'local':
        from mmautomot.apis import Driver, init_model  # heavy: torch + the model zoo

        model = init_model(cfg['config'], cfg.get('checkpoint'), device=cfg.get('device', 'cpu'))
        return Driver(model, **cfg.get('driver_kwargs', {}))
    raise ValueError(f"driver type must be 'local' or 'remote', got {kind!r}")
