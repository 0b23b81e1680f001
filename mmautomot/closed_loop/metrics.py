# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive closed-loop metrics from the leaderboard's result JSONs and the agent's metric_info logs.

Definitions (Bench2Drive, CARLA leaderboard 2.0; see ``mmautomot/closed_loop/README.md``):

* **Driving score (DS)** = sum over routes of ``scores.score_composed`` / ``expected_routes`` (220);
  missing routes count 0, crashed routes count what the leaderboard recorded for them. Reported 0-100.
* **Success rate (SR)** = routes whose ``status`` is ``Completed`` or ``Perfect`` and whose
  ``infractions`` hold nothing except ``min_speed_infractions`` / ``expected_routes``, in percent.
  Crashed and missing routes are failures.
* **Efficiency**: the leaderboard's min-speed test writes, per route checkpoint, the ego's average speed as
  a percentage of the surrounding traffic's (``min_speed_infractions`` entries such as "Average agent
  speed is 85.3% of the surrounding traffic's one"); values above 1000 are dropped; efficiency is the
  mean over routes of each route's mean percentage.
* **Comfort (smoothness)**: the share (percent) of 20-frame segments of the per-tick ``metric_info``
  whose every frame is inside the nuPlan comfort thresholds (:data:`COMFORT_THRESHOLDS`).
* **Ability scores**: the success rate over the routes of each ability (Overtaking, Merging,
  Emergency_Brake, Give_Way, Traffic_Signs); the ability -> scenario mapping comes from the user's
  Bench2Drive checkout or a JSON file (:func:`load_ability_mapping`).
"""
import ast
import glob
import json
import math
import os.path as osp
import re
import warnings
import xml.etree.ElementTree as ET
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

EXPECTED_ROUTES = 220
SUCCESS_STATUSES = ('Completed', 'Perfect')
IGNORED_INFRACTIONS = ('min_speed_infractions', )
ABILITIES = ('Overtaking', 'Merging', 'Emergency_Brake', 'Give_Way', 'Traffic_Signs')
#: nuPlan comfort thresholds (SI units, rad for yaw): (low, high) open interval.
COMFORT_THRESHOLDS = dict(lon_acc=(-4.05, 2.40), lat_acc=(-4.89, 4.89), jerk=(-8.37, 8.37),
                          lon_jerk=(-4.13, 4.13), yaw_acc=(-1.93, 1.93), yaw_rate=(-0.95, 0.95))
_PERCENT_RE = re.compile(r'(-?\d+(?:\.\d+)?)\s*%')


def route_key(route_id: str) -> str:
    """``'RouteScenario_1711_rep0'`` -> ``'1711'`` (other ids are returned unchanged)."""
    m = re.search(r'RouteScenario_(\w+?)(?:_rep\d+)?$', str(route_id))
    return m.group(1) if m else str(route_id)


def load_records(run_dir: str) -> Dict[str, dict]:
    """Read every leaderboard checkpoint JSON (``{'_checkpoint': {'records': [...]}}``) in ``run_dir``.

    Files are read in sorted order; a route appearing in several files keeps its last record whose
    status is not a simulator crash (so a retried route replaces its crashed attempt).

    Returns:
        dict: ``route_key -> record``.
    """
    files = sorted(glob.glob(osp.join(run_dir, '*.json')))
    records: Dict[str, dict] = {}
    for path in files:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            warnings.warn(f'skipping unreadable result file {path}: {err}')
            continue
        if not isinstance(data, dict) or '_checkpoint' not in data:
            continue
        for rec in data['_checkpoint'].get('records', []) or []:
            if 'route_id' not in rec:
                raise KeyError(f"{path}: a record lacks 'route_id' (keys {sorted(rec)})")
            key = route_key(rec['route_id'])
            old = records.get(key)
            if old is None or 'Simulation crashed' not in str(rec.get('status', '')) or \
                    'Simulation crashed' in str(old.get('status', '')):
                records[key] = rec
    return records


def is_success(rec: dict) -> bool:
    """Completed / Perfect and no infraction other than ``min_speed_infractions``."""
    if rec.get('status') not in SUCCESS_STATUSES:
        return False
    for name, items in (rec.get('infractions') or {}).items():
        if name not in IGNORED_INFRACTIONS and items:
            return False
    return True


def _check_expected(n: int, expected: int) -> None:
    if n != expected:
        warnings.warn(f'found {n} routes but Bench2Drive has {expected}: scores are computed over '
                      f'{expected} routes (missing routes count as failures with score 0)')


def driving_score_success_rate(records: Dict[str, dict], expected_routes: int = EXPECTED_ROUTES,
                               warn: bool = True) -> dict:
    """DS (0-100) and SR (percent) over ``expected_routes`` routes.

    Returns:
        dict: ``driving_score``, ``success_rate``, ``num_routes`` (records found), ``num_success``,
        ``num_crashed`` (status contains 'crashed'), ``num_missing``, ``expected_routes``.
    """
    if warn:
        _check_expected(len(records), expected_routes)
    total = sum(float(r.get('scores', {}).get('score_composed', 0.0)) for r in records.values())
    succ = sum(is_success(r) for r in records.values())
    crashed = sum('crashed' in str(r.get('status', '')).lower() for r in records.values())
    return dict(driving_score=total / expected_routes, success_rate=100.0 * succ / expected_routes,
                num_routes=len(records), num_success=int(succ), num_crashed=int(crashed),
                num_missing=max(0, expected_routes - len(records)), expected_routes=expected_routes)


def efficiency_from_records(records: Dict[str, dict], max_value: float = 1000.0) -> Optional[float]:
    """Mean over routes of the mean speed percentage parsed from ``min_speed_infractions``."""
    per_route = []
    for rec in records.values():
        vals = []
        for item in (rec.get('infractions') or {}).get('min_speed_infractions', []) or []:
            m = _PERCENT_RE.search(str(item))
            if m and float(m.group(1)) <= max_value:
                vals.append(float(m.group(1)))
        if vals:
            per_route.append(float(np.mean(vals)))
    return float(np.mean(per_route)) if per_route else None


def _smooth_derivative(x: np.ndarray, dt: float, window: int) -> np.ndarray:
    if window and len(x) >= window:
        from scipy.signal import savgol_filter
        return savgol_filter(x, window, 2, deriv=1, delta=dt)
    return np.gradient(x, dt) if len(x) > 1 else np.zeros_like(x)


def comfort_signals(metric_info: dict, dt: float = 0.05, window: int = 15) -> Dict[str, np.ndarray]:
    """Per-frame comfort quantities from one route's ``metric_info`` (see the recorder).

    Accelerations are projected on the ego heading (CARLA rotation yaw, degrees); jerks and the yaw
    acceleration are Savitzky-Golay derivatives (window ``window`` frames, order 2; plain gradients for
    shorter logs); ``angular_velocity`` is in deg/s (CARLA) and converted to rad/s.
    """
    ticks = sorted(metric_info, key=lambda k: int(k))
    acc = np.array([metric_info[t]['acceleration'][:2] for t in ticks], dtype=np.float64)
    yaw = np.radians([metric_info[t]['rotation'][1] for t in ticks])
    yaw_rate = np.radians([metric_info[t]['angular_velocity'][2] for t in ticks])
    lon = acc[:, 0] * np.cos(yaw) + acc[:, 1] * np.sin(yaw)
    lat = -acc[:, 0] * np.sin(yaw) + acc[:, 1] * np.cos(yaw)
    jerk_vec = np.stack([_smooth_derivative(acc[:, 0], dt, window),
                         _smooth_derivative(acc[:, 1], dt, window)], axis=1)
    return dict(lon_acc=lon, lat_acc=lat, jerk=np.linalg.norm(jerk_vec, axis=1),
                lon_jerk=_smooth_derivative(lon, dt, window), yaw_rate=yaw_rate,
                yaw_acc=_smooth_derivative(yaw_rate, dt, window))


def comfort_from_metric_info(infos: Iterable[dict], segment: int = 20, dt: float = 0.05,
                             window: int = 15) -> Optional[float]:
    """Percent of ``segment``-frame segments (over all routes) inside :data:`COMFORT_THRESHOLDS`."""
    good = total = 0
    for info in infos:
        if len(info) < segment:
            continue
        sig = comfort_signals(info, dt, window)
        ok = np.ones(len(sig['lon_acc']), dtype=bool)
        for name, (lo, hi) in COMFORT_THRESHOLDS.items():
            ok &= (sig[name] > lo) & (sig[name] < hi)
        for s in range(0, len(ok) - segment + 1, segment):
            total += 1
            good += bool(ok[s:s + segment].all())
    return 100.0 * good / total if total else None


def load_ability_mapping(b2d_root: Optional[str] = None, mapping_file: Optional[str] = None) -> dict:
    """Ability -> route keys, from a JSON file or the user's Bench2Drive checkout.

    * ``mapping_file``: JSON ``{"Overtaking": [route ids or scenario type names], ...}`` and optionally
      ``"route_scenarios": {route_id: scenario_type}``.
    * ``b2d_root``: an external Bench2Drive checkout. The ability -> scenario-type dict literal is read
      (with :mod:`ast`, nothing is executed) from ``tools/ability_benchmark.py`` and the route ->
      scenario type from ``leaderboard/data/bench2drive220.xml``.

    Returns:
        dict: ``{ability: set(route keys or scenario names)}`` plus ``'route_scenarios'``:
        ``{route key: [scenario types]}``.
    """
    mapping: dict = {}
    route_scen: Dict[str, List[str]] = {}
    if mapping_file:
        with open(mapping_file) as f:
            raw = json.load(f)
        for k, v in raw.items():
            if k == 'route_scenarios':
                route_scen.update({route_key(r): ([s] if isinstance(s, str) else list(s))
                                   for r, s in v.items()})
            else:
                mapping[k] = {str(x) for x in v}
    if b2d_root:
        script = osp.join(b2d_root, 'tools', 'ability_benchmark.py')
        if not mapping:
            if not osp.isfile(script):
                raise FileNotFoundError(f'{script} not found: pass --b2d-root of a Bench2Drive '
                                        'checkout or a JSON mapping file')
            mapping = _dict_literal_with_keys(script, ABILITIES)
        xml = osp.join(b2d_root, 'leaderboard', 'data', 'bench2drive220.xml')
        if osp.isfile(xml):
            route_scen.update(route_scenarios_from_xml(xml))
    if not mapping:
        raise ValueError('no ability mapping: give --b2d-root or --ability-map')
    mapping['route_scenarios'] = route_scen
    return mapping


def _dict_literal_with_keys(path: str, keys: Sequence[str]) -> dict:
    tree = ast.parse(open(path).read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue
            if isinstance(value, dict) and sum(k in value for k in keys) >= 3:
                return {k: {str(x) for x in v} for k, v in value.items()}
    raise ValueError(f'{path}: no dict literal keyed by the abilities {keys} found')


def route_scenarios_from_xml(xml_path: str) -> Dict[str, List[str]]:
    """``{route id: [scenario type, ...]}`` from a leaderboard 2.0 routes XML."""
    out = {}
    for route in ET.parse(xml_path).getroot().iter('route'):
        out[str(route.get('id'))] = [s.get('type') for s in route.iter('scenario') if s.get('type')]
    return out


def ability_scores(records: Dict[str, dict], mapping: dict) -> Dict[str, dict]:
    """Per ability: ``success_rate`` (percent), ``driving_score`` (0-100), ``num_routes``.

    A route belongs to an ability if its key, or one of its scenario types
    (``mapping['route_scenarios']``, or the ``scenario_name`` in its record's ``meta``), is listed.
    Routes of the ability without a record count as failures with score 0 when they are listed by id.
    """
    route_scen = mapping.get('route_scenarios', {})
    out = {}
    for ability, members in mapping.items():
        if ability == 'route_scenarios':
            continue
        keys = set()
        for key in set(records) | set(route_scen):
            scen = set(route_scen.get(key, []))
            rec_scen = (records.get(key) or {}).get('meta', {}).get('scenario_name')
            if rec_scen:
                scen.add(rec_scen)
            if key in members or scen & members:
                keys.add(key)
        keys |= {m for m in members if m.isdigit()}
        n = len(keys)
        succ = sum(is_success(records[k]) for k in keys if k in records)
        ds = sum(float(records[k].get('scores', {}).get('score_composed', 0.0)) for k in keys if k in records)
        out[ability] = dict(success_rate=100.0 * succ / n if n else float('nan'),
                            driving_score=ds / n if n else float('nan'), num_routes=n)
    rates = [v['success_rate'] for v in out.values() if not math.isnan(v['success_rate'])]
    out['mean'] = dict(success_rate=float(np.mean(rates)) if rates else float('nan'))
    return out


def load_metric_infos(run_dir: str) -> List[dict]:
    """Every ``metric_info.json`` under ``run_dir`` (any depth)."""
    infos = []
    for path in sorted(glob.glob(osp.join(run_dir, '**', 'metric_info.json'), recursive=True)):
        with open(path) as f:
            infos.append(json.load(f))
    return infos


def evaluate_run_dir(run_dir: str, expected_routes: int = EXPECTED_ROUTES,
                     ability_mapping: Optional[dict] = None,
                     metric_info_dir: Optional[str] = None) -> dict:
    """All metrics of one evaluation run (one seed)."""
    records = load_records(run_dir)
    res = driving_score_success_rate(records, expected_routes)
    res['efficiency'] = efficiency_from_records(records)
    res['comfort'] = comfort_from_metric_info(load_metric_infos(metric_info_dir or run_dir))
    if ability_mapping:
        res['abilities'] = ability_scores(records, ability_mapping)
    return res


def aggregate_seeds(results: Sequence[dict]) -> dict:
    """Mean and sample std (ddof=1; 0 for one run) of the scalar metrics over several runs."""
    keys = ['driving_score', 'success_rate', 'efficiency', 'comfort']
    out = {'num_runs': len(results)}
    for k in keys:
        vals = [r[k] for r in results if r.get(k) is not None]
        if vals:
            out[k] = dict(mean=float(np.mean(vals)),
                          std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
    abil = [r['abilities'] for r in results if 'abilities' in r]
    if abil:
        out['abilities'] = {}
        for a in abil[0]:
            vals = [x[a]['success_rate'] for x in abil if a in x]
            out['abilities'][a] = dict(mean=float(np.mean(vals)),
                                       std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
    return out
