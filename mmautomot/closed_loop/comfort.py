# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive comfort ("smoothness") from per-tick ``metric_info`` logs, official and corrected.

Both definitions check the nuPlan comfort thresholds (:data:`COMFORT_THRESHOLDS`, from nuPlan's
``ego_is_comfortable`` metric, SI units with rad for yaw) on non-overlapping 20-frame segments; a segment
is comfortable when every quantity stays inside its open interval on every frame of the segment.

* :func:`comfort_official` (the default, ``comfort`` in the merge output) follows the semantics of
  Bench2Drive's ``efficiency_smoothness_benchmark`` as its published numbers contain them, quirks
  included (written from the description in ``REFERENCE.md`` §3, not from that code):

  1. frames are taken as 0.1 s apart (``dt``) whatever the logging rate;
  2. signals are smoothed with a Savitzky-Golay filter of 7 frames, order 2 (nuPlan's filter/derivative
     convention: ``scipy.signal.savgol_filter``, derivatives with ``deriv=1, delta=dt``);
  3. the yaw rate is ``angular_velocity[2]`` in CARLA's deg/s, compared with the rad/s limit (0.95);
  4. the "yaw acceleration" is the smoothed yaw rate (deg/s), compared with the rad/s^2 limit (1.93);
  5. each route gives the fraction of its segments that are comfortable; the comfort is the mean of the
     per-route fractions (routes shorter than one segment are left out), in percent.

* :func:`comfort_corrected` (``comfort_corrected`` in the merge output) is mmautomot's definition: yaw
  rate converted to rad/s, yaw acceleration its derivative, smoothing over 15 frames at the recorder's
  real 0.05 s (20 Hz), segments pooled over all routes.

Both read the longitudinal / lateral acceleration as the dot product of the 3-D acceleration with the
ego's ``forward_vector`` / ``right_vector`` (or, when a log lacks them, with the flat heading axes of
``rotation[2]``, the yaw of the official ``[roll, pitch, yaw]`` order); the jerk is the norm of the
derivative of the horizontal (x, y) acceleration.
"""

from typing import Dict, Iterable, Optional

import numpy as np

#: nuPlan comfort thresholds (SI units, rad for yaw): (low, high) open interval.
COMFORT_THRESHOLDS = dict(
    lon_acc=(-4.05, 2.40),
    lat_acc=(-4.89, 4.89),
    jerk=(-8.37, 8.37),
    lon_jerk=(-4.13, 4.13),
    yaw_acc=(-1.93, 1.93),
    yaw_rate=(-0.95, 0.95),
)
SEGMENT = 20


def _savgol(x: np.ndarray, window: int, dt: float, deriv: int = 0) -> np.ndarray:
    from scipy.signal import savgol_filter

    if len(x) >= window:
        return savgol_filter(x, window, 2, deriv=deriv, delta=dt)
    if deriv == 0:
        return x.copy()
    return np.gradient(x, dt) if len(x) > 1 else np.zeros_like(x)


def _frames(metric_info: dict, what: str = 'metric_info') -> list:
    try:
        ticks = sorted(metric_info, key=lambda k: int(k))
    except (TypeError, ValueError) as err:
        raise ValueError(f'{what}: keys must be tick numbers ({err})') from err
    frames = [metric_info[t] for t in ticks]
    for t, fr in zip(ticks, frames):
        for k in ('acceleration', 'angular_velocity'):
            if k not in fr:
                raise KeyError(f'{what}: tick {t} lacks {k!r} (keys {sorted(fr)})')
        if 'forward_vector' not in fr and 'rotation' not in fr:
            raise KeyError(f"{what}: tick {t} has neither 'forward_vector' nor 'rotation'")
    return frames


def heading_axes(frames: list) -> tuple:
    """Forward / right unit vectors (N, 3), CARLA frame (left-handed: right = (-f_y, f_x, 0) when flat).

    ``forward_vector`` / ``right_vector`` as logged when present (3-D, so pitch and roll tilt them), else
    the flat axes of the heading ``rotation[2]`` (yaw of ``[roll, pitch, yaw]``, degrees).
    """
    if all('forward_vector' in f for f in frames):
        fwd = np.array([f['forward_vector'][:3] for f in frames], dtype=np.float64)
    else:
        yaw = np.radians([f['rotation'][2] for f in frames])  # [roll, pitch, yaw]
        fwd = np.stack([np.cos(yaw), np.sin(yaw), np.zeros_like(yaw)], axis=1)
    if all('right_vector' in f for f in frames):
        right = np.array([f['right_vector'][:3] for f in frames], dtype=np.float64)
    else:
        right = np.stack([-fwd[:, 1], fwd[:, 0], np.zeros(len(fwd))], axis=1)
        right /= np.maximum(np.linalg.norm(right, axis=1, keepdims=True), 1e-9)
    return fwd, right


def comfort_signals(
    metric_info: dict, dt: float, window: int, yaw_units: str, what: str = 'metric_info'
) -> Dict[str, np.ndarray]:
    """Per-frame comfort quantities of one route.

    Args:
        metric_info (dict): ``{tick: {acceleration [x, y, z] m/s^2, angular_velocity [x, y, z] deg/s,
            forward_vector / right_vector, or rotation [roll, pitch, yaw] deg}}`` (CARLA frame).
        dt (float): seconds between frames used for the derivatives.
        window (int): Savitzky-Golay window (frames), order 2.
        yaw_units (str): ``'official'`` (yaw rate raw in deg/s, "yaw acceleration" = the smoothed yaw
            rate in deg/s) or ``'si'`` (yaw rate in rad/s smoothed, yaw acceleration its derivative).

    Returns:
        dict: ``lon_acc, lat_acc, jerk, lon_jerk, yaw_rate, yaw_acc``, each (N,).
    """
    frames = _frames(metric_info, what)
    acc = np.array([f['acceleration'][:3] for f in frames], dtype=np.float64)
    fwd, right = heading_axes(frames)
    lon = np.sum(acc * fwd, axis=1)
    lat = np.sum(acc * right, axis=1)
    jerk = np.stack([_savgol(acc[:, 0], window, dt, 1), _savgol(acc[:, 1], window, dt, 1)], axis=1)
    wz = np.array([f['angular_velocity'][2] for f in frames], dtype=np.float64)
    if yaw_units == 'official':
        yaw_rate, yaw_acc = wz, _savgol(wz, window, dt)
    elif yaw_units == 'si':
        wz = np.radians(wz)
        yaw_rate, yaw_acc = _savgol(wz, window, dt), _savgol(wz, window, dt, 1)
    else:
        raise ValueError(f"yaw_units must be 'official' or 'si', got {yaw_units!r}")
    return dict(
        lon_acc=_savgol(lon, window, dt),
        lat_acc=_savgol(lat, window, dt),
        jerk=np.linalg.norm(jerk, axis=1),
        lon_jerk=_savgol(lon, window, dt, 1),
        yaw_rate=yaw_rate,
        yaw_acc=yaw_acc,
    )


def segment_flags(sig: Dict[str, np.ndarray], segment: int = SEGMENT) -> np.ndarray:
    """Bool per non-overlapping ``segment``-frame segment (the tail shorter than a segment is dropped)."""
    ok = np.ones(len(sig['lon_acc']), dtype=bool)
    for name, (lo, hi) in COMFORT_THRESHOLDS.items():
        ok &= (sig[name] > lo) & (sig[name] < hi)
    n = len(ok) // segment
    return ok[: n * segment].reshape(n, segment).all(axis=1)


def comfort_official(
    infos: Iterable[dict], segment: int = SEGMENT, dt: float = 0.1, window: int = 7
) -> Optional[float]:
    """Bench2Drive's published comfort (percent): mean over routes of the comfortable-segment fraction.

    Quirks kept on purpose (see the module docstring): 0.1 s frames, 7-frame smoothing, yaw rate in deg/s
    against rad/s limits, smoothed yaw rate as yaw acceleration, per-route fractions averaged.
    """
    fractions = []
    for i, info in enumerate(infos):
        if len(info) < segment:
            continue
        flags = segment_flags(comfort_signals(info, dt, window, 'official', f'metric_info #{i}'), segment)
        fractions.append(flags.mean())
    return 100.0 * float(np.mean(fractions)) if fractions else None


def comfort_corrected(
    infos: Iterable[dict], segment: int = SEGMENT, dt: float = 0.05, window: int = 15
) -> Optional[float]:
    """mmautomot's corrected comfort (percent): SI yaw units, real 20 Hz step, segments pooled."""
    good = total = 0
    for i, info in enumerate(infos):
        if len(info) < segment:
            continue
        flags = segment_flags(comfort_signals(info, dt, window, 'si', f'metric_info #{i}'), segment)
        good += int(flags.sum())
        total += len(flags)
    return 100.0 * good / total if total else None
