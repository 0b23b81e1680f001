# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive closed-loop metrics from the leaderboard's result JSONs and the agent's metric_info logs.

Definitions (Bench2Drive, CARLA leaderboard 2.0; each protocol choice is listed in
``mmautomot/closed_loop/README.md``):

* **Driving score (DS)** = sum over routes of ``scores.score_composed`` / ``expected_routes`` (220);
  missing routes count 0 (only with ``allow_partial``), crashed routes count what the leaderboard
  recorded for them. Reported 0-100.
* **Success rate (SR)** = routes whose ``status`` is ``Completed`` or ``Perfect`` and whose
  ``infractions`` hold nothing except ``min_speed_infractions`` / ``expected_routes``, in percent.
* **Efficiency**: the leaderboard's min-speed test writes, per route checkpoint, the ego's average speed as
  a percentage of the surrounding traffic's (``min_speed_infractions`` entries such as "Average agent
  speed is 85.3% of the surrounding traffic's one"); values above 1000 are dropped; efficiency is the
  mean over routes of each route's mean percentage.
* **Comfort**: :mod:`mmautomot.closed_loop.comfort` (official definition by default, ``comfort_corrected``
  beside it).
* **Ability scores**: :mod:`mmautomot.closed_loop.abilities`.

Reading and validating the result folder (truncated files, NaN scores, repetitions, duplicates, stale
merged files, partial runs): :mod:`mmautomot.closed_loop.result_records`.
"""

import glob
import json
import math
import os.path as osp
import re
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

from .abilities import (
    ABILITIES,
    IGNORED_INFRACTIONS,
    SUCCESS_STATUSES,
    ability_members,
    ability_scores,
    is_success,
    load_ability_mapping,
    route_scenarios_from_xml,
    sign_credit_candidates,
    traffic_sign_credit,
)
from .comfort import COMFORT_THRESHOLDS, comfort_corrected, comfort_official
from .result_records import EXPECTED_ROUTES, ResultsError, load_run, route_key, route_rep

__all__ = [
    'ABILITIES',
    'COMFORT_THRESHOLDS',
    'EXPECTED_ROUTES',
    'IGNORED_INFRACTIONS',
    'SUCCESS_STATUSES',
    'ResultsError',
    'ability_scores',
    'aggregate_seeds',
    'comfort_corrected',
    'comfort_from_metric_info',
    'comfort_official',
    'driving_score_success_rate',
    'efficiency_from_records',
    'evaluate_run_dir',
    'is_success',
    'load_ability_mapping',
    'load_metric_infos',
    'load_records',
    'load_run',
    'route_key',
    'route_rep',
    'route_scenarios_from_xml',
]
_PERCENT_RE = re.compile(r'(-?\d+(?:\.\d+)?)\s*%')
#: the official comfort definition is the default.
comfort_from_metric_info = comfort_official


def load_records(run_dir: str, expected_routes: int = EXPECTED_ROUTES) -> Dict[str, dict]:
    """``route key -> record`` of a one-repetition result folder (partial folders accepted).

    Raises:
        ResultsError: see :func:`mmautomot.closed_loop.result_records.load_run`, or several repetitions
            (use :func:`load_run`).
    """
    run = load_run(run_dir, expected_routes, allow_partial=True)
    if len(run['reps']) != 1:
        raise ResultsError(f'{run_dir}: {len(run["reps"])} repetitions; use load_run / evaluate_run_dir')
    return next(iter(run['reps'].values()))


def _check_expected(n: int, expected: int) -> None:
    if n != expected:
        warnings.warn(
            f'found {n} routes but Bench2Drive has {expected}: scores are computed over '
            f'{expected} routes (missing routes count as failures with score 0)'
        )


def driving_score_success_rate(
    records: Dict[str, dict], expected_routes: int = EXPECTED_ROUTES, warn: bool = True
) -> dict:
    """DS (0-100) and SR (percent) over ``expected_routes`` routes.

    Returns:
        dict: ``driving_score``, ``success_rate``, ``num_routes`` (records found), ``num_success``,
        ``num_crashed`` (status contains 'crashed'), ``num_missing``, ``expected_routes``.
    """
    if warn:
        _check_expected(len(records), expected_routes)
    total = sum(float(r['scores']['score_composed']) for r in records.values())
    succ = sum(is_success(r) for r in records.values())
    crashed = sum('crashed' in str(r.get('status', '')).lower() for r in records.values())
    return dict(
        driving_score=total / expected_routes,
        success_rate=100.0 * succ / expected_routes,
        num_routes=len(records),
        num_success=int(succ),
        num_crashed=int(crashed),
        num_missing=max(0, expected_routes - len(records)),
        expected_routes=expected_routes,
    )


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


def load_metric_infos(run_dir: str) -> List[dict]:
    """Every ``metric_info.json`` under ``run_dir`` (any depth); a file that is not JSON is an error."""
    infos = []
    for path in sorted(glob.glob(osp.join(run_dir, '**', 'metric_info.json'), recursive=True)):
        try:
            with open(path) as f:
                info = json.load(f)
        except json.JSONDecodeError as err:
            raise ResultsError(f'{path}: not valid JSON ({err})') from err
        if not isinstance(info, dict):
            raise ResultsError(f'{path}: expected {{tick: frame}}, got {type(info).__name__}')
        infos.append(info)
    return infos


def evaluate_records(
    records: Dict[str, dict],
    expected_routes: int = EXPECTED_ROUTES,
    ability_mapping: Optional[dict] = None,
    missing: str = 'official',
    routes: Optional[dict] = None,
    xodr_dir: Optional[str] = None,
) -> dict:
    """DS, SR, efficiency and abilities of one repetition's records.

    Args:
        routes (dict, optional): ``{route id: {'town', 'points'}}`` from the routes XML; with
            ``xodr_dir`` the Traffic_Signs credit is computed.
    """
    res = driving_score_success_rate(records, expected_routes, warn=False)
    res['efficiency'] = efficiency_from_records(records)
    if ability_mapping:
        credit = None
        if xodr_dir:
            if routes is None:
                raise ValueError(
                    'the Traffic_Signs credit needs the route waypoints: pass --routes or --b2d-root with --xodr-dir'
                )
            ts = (
                ability_members(records, ability_mapping, 'Traffic_Signs')
                if 'Traffic_Signs' in ability_mapping
                else set()
            )
            credit = traffic_sign_credit(records, sign_credit_candidates(records, ts), routes, xodr_dir)
        res['abilities'] = ability_scores(records, ability_mapping, missing, credit)
    return res


def evaluate_run_dir(
    run_dir: str,
    expected_routes: int = EXPECTED_ROUTES,
    ability_mapping: Optional[dict] = None,
    metric_info_dir: Optional[str] = None,
    allow_partial: bool = False,
    route_ids=None,
    missing: str = 'official',
    routes: Optional[dict] = None,
    xodr_dir: Optional[str] = None,
) -> dict:
    """All metrics of one evaluation run (one seed).

    Several repetitions (``_rep<k>``) give the per-repetition results under ``repetitions`` and the
    mean / std over them in place of the scalars (like :func:`aggregate_seeds`). ``notes`` lists the
    reading rules that applied (:func:`load_run`).
    """
    run = load_run(run_dir, expected_routes, route_ids, allow_partial)
    per_rep = [
        evaluate_records(recs, expected_routes, ability_mapping, missing, routes, xodr_dir)
        for _, recs in sorted(run['reps'].items())
    ]
    infos = load_metric_infos(metric_info_dir or run_dir)
    comfort = dict(comfort=comfort_official(infos), comfort_corrected=comfort_corrected(infos))
    if len(per_rep) == 1:
        res = per_rep[0]
    else:
        res = aggregate_seeds(per_rep)
        res['repetitions'] = per_rep
        res['num_repetitions'] = res.pop('num_runs')
        res['expected_routes'] = expected_routes
    res.update(comfort, notes=run['notes'], num_missing=sum(run['num_missing'].values()))
    return res


def _mean_std(vals: Sequence[float]) -> dict:
    return dict(mean=float(np.mean(vals)), std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)


def aggregate_seeds(results: Sequence[dict]) -> dict:
    """Mean and sample std (ddof=1; 0 for one run) of the scalar metrics over several runs."""
    keys = ['driving_score', 'success_rate', 'efficiency', 'comfort', 'comfort_corrected']
    out = {'num_runs': len(results)}
    for k in keys:
        vals = [r[k]['mean'] if isinstance(r.get(k), dict) else r.get(k) for r in results]
        vals = [v for v in vals if v is not None]
        if vals:
            out[k] = _mean_std(vals)
    abil = [r['abilities'] for r in results if 'abilities' in r]
    if abil:
        out['abilities'] = {}
        for a in abil[0]:
            vals = [x[a].get('success_rate', x[a].get('mean')) for x in abil if a in x]
            vals = [v for v in vals if not math.isnan(v)]
            entry = _mean_std(vals) if vals else dict(mean=float('nan'), std=float('nan'))
            if any(x.get(a, {}).get('lower_bound') for x in abil):
                entry['lower_bound'] = True
            out['abilities'][a] = entry
    return out
