# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive ability scores (Overtaking, Merging, Emergency_Brake, Give_Way, Traffic_Signs).

A route belongs to an ability when its id, or one of its scenario types, is listed for the ability. The
scenario types of a route come from the routes XML (``route_scenarios``) and from the record itself: the
leaderboard writes ``scenario_name`` at the record's top level as ``<type>_<n>`` (e.g.
``SignalizedJunctionLeftTurn_1``), the ``_<n>`` suffix is dropped to get the type.

Two rules for routes without a record (``missing=``):

* ``'official'`` (default, as Bench2Drive's ability tool): missing routes are left out of each ability;
  the ability's success rate is over the routes that have a record.
* ``'failure'`` (mmautomot's): missing routes of the ability count as failures (needs the route list,
  from the routes XML or route ids in the mapping).

Traffic_Signs credit (as the official tool): a failed Traffic_Signs route counts as a success for
Traffic_Signs when it has no red-light and no stop-sign infraction and the ego got past the route's first
junction (:mod:`mmautomot.closed_loop.junctions`; needs the town maps). Without maps the credit is not
given and Traffic_Signs and the mean are marked as lower bounds (``lower_bound: True``) whenever a route
could have been credited.
"""

import ast
import json
import math
import os.path as osp
import re
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

import numpy as np

from .result_records import route_key

ABILITIES = ('Overtaking', 'Merging', 'Emergency_Brake', 'Give_Way', 'Traffic_Signs')
SUCCESS_STATUSES = ('Completed', 'Perfect')
IGNORED_INFRACTIONS = ('min_speed_infractions',)
SIGN_INFRACTIONS = ('red_light', 'stop_infraction')
MISSING_RULES = ('official', 'failure')


def is_success(rec: dict) -> bool:
    """Completed / Perfect and no infraction other than ``min_speed_infractions``."""
    if rec.get('status') not in SUCCESS_STATUSES:
        return False
    for name, items in (rec.get('infractions') or {}).items():
        if name not in IGNORED_INFRACTIONS and items:
            return False
    return True


def scenario_type(name: Optional[str]) -> Optional[str]:
    """``'SignalizedJunctionLeftTurn_1'`` -> ``'SignalizedJunctionLeftTurn'``."""
    return re.sub(r'_\d+$', '', name) if name else None


def record_scenarios(rec: Optional[dict]) -> set:
    """Scenario types named in a record (top-level ``scenario_name``, or ``meta.scenario_name``)."""
    rec = rec or {}
    names = {rec.get('scenario_name'), (rec.get('meta') or {}).get('scenario_name')}
    return {scenario_type(n) for n in names if n} | {n for n in names if n}


def load_ability_mapping(
    b2d_root: Optional[str] = None, mapping_file: Optional[str] = None, routes_xml: Optional[str] = None
) -> dict:
    """Ability -> route keys or scenario types, from a JSON file or the user's Bench2Drive checkout.

    * ``mapping_file``: JSON ``{"Overtaking": [route ids or scenario type names], ...}`` and optionally
      ``"route_scenarios": {route_id: scenario_type}``.
    * ``b2d_root``: an external Bench2Drive checkout. The ability -> scenario-type dict literal is read
      (with :mod:`ast`, nothing is executed) from ``tools/ability_benchmark.py`` and the route ->
      scenario type from ``leaderboard/data/bench2drive220.xml``.
    * ``routes_xml``: a routes XML whose scenario types fill ``route_scenarios``.

    Returns:
        dict: ``{ability: set(route keys or scenario types)}`` plus ``'route_scenarios'``:
        ``{route key: [scenario types]}``.
    """
    mapping: dict = {}
    route_scen: Dict[str, List[str]] = {}
    if mapping_file:
        with open(mapping_file) as f:
            raw = json.load(f)
        if not isinstance(raw, dict):
            raise ValueError(f'{mapping_file}: expected a JSON object {{ability: [ids or types]}}')
        for k, v in raw.items():
            if k == 'route_scenarios':
                route_scen.update({route_key(r): ([s] if isinstance(s, str) else list(s)) for r, s in v.items()})
            else:
                mapping[k] = {str(x) for x in v}
        unknown = set(mapping) - set(ABILITIES)
        if unknown:
            raise ValueError(f'{mapping_file}: unknown abilities {sorted(unknown)} (expected {ABILITIES})')
    xmls = [routes_xml] if routes_xml else []
    if b2d_root:
        script = osp.join(b2d_root, 'tools', 'ability_benchmark.py')
        if not mapping:
            if not osp.isfile(script):
                raise FileNotFoundError(
                    f'{script} not found: pass --b2d-root of a Bench2Drive checkout or a JSON mapping file'
                )
            mapping = _dict_literal_with_keys(script, ABILITIES)
        xml = osp.join(b2d_root, 'leaderboard', 'data', 'bench2drive220.xml')
        if osp.isfile(xml) and not routes_xml:
            xmls.append(xml)
    for xml in xmls:
        route_scen.update(route_scenarios_from_xml(xml))
    if not mapping:
        raise ValueError('no ability mapping: give --b2d-root or --ability-map')
    mapping['route_scenarios'] = route_scen
    return mapping


def _dict_literal_with_keys(path: str, keys: Sequence[str]) -> dict:
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
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


def ability_members(records: Dict[str, dict], mapping: dict, ability: str) -> set:
    """Route keys of ``ability`` among the records and the routes of ``mapping['route_scenarios']``."""
    members = mapping[ability]
    route_scen = mapping.get('route_scenarios', {})
    keys = {m for m in members if m.isdigit()}
    for key in set(records) | set(route_scen):
        scen = set(route_scen.get(key, [])) | record_scenarios(records.get(key))
        if key in members or scen & members:
            keys.add(key)
    return keys


def sign_credit_candidates(records: Dict[str, dict], keys: set) -> List[str]:
    """Failed routes among ``keys`` with no red-light / stop infraction (may earn the credit)."""
    out = []
    for k in sorted(keys):
        rec = records.get(k)
        if rec is None or is_success(rec):
            continue
        infr = rec.get('infractions') or {}
        if not any(infr.get(n) for n in SIGN_INFRACTIONS):
            out.append(k)
    return out


def traffic_sign_credit(
    records: Dict[str, dict], candidates: Sequence[str], routes: Dict[str, dict], xodr_dir: str
) -> set:
    """Candidates whose ego got past the first junction (``score_route`` % >= junction exit fraction).

    Args:
        routes (dict): ``{route id: {'town', 'points'}}`` (:func:`junctions.route_waypoints_from_xml`).
        xodr_dir (str): folder with ``<Town>.xodr``.
    """
    from .junctions import first_junction_exit, load_town_map

    maps, credited = {}, set()
    for k in candidates:
        if k not in routes:
            raise KeyError(f'route {k}: not in the routes XML (needed for the Traffic_Signs credit)')
        town = routes[k]['town']
        if town not in maps:
            maps[town] = load_town_map(xodr_dir, town)
        exit_frac = first_junction_exit(maps[town], routes[k]['points'])
        done = float(records[k]['scores'].get('score_route', 0.0)) / 100.0
        if exit_frac is not None and done >= exit_frac:
            credited.add(k)
    return credited


def ability_scores(
    records: Dict[str, dict], mapping: dict, missing: str = 'official', sign_credit: Optional[set] = None
) -> Dict[str, dict]:
    """Per ability: ``success_rate`` (percent), ``driving_score`` (0-100), ``num_routes``, ``num_missing``.

    Args:
        records (dict): ``route key -> record`` of one run (one repetition).
        mapping (dict): :func:`load_ability_mapping`.
        missing (str): ``'official'`` (missing routes left out) or ``'failure'`` (counted as failures).
        sign_credit (set, optional): Traffic_Signs routes credited by :func:`traffic_sign_credit`. None =
            maps not given: Traffic_Signs (and the mean) get ``lower_bound: True`` when a route could
            have been credited.
    """
    if missing not in MISSING_RULES:
        raise ValueError(f'missing must be one of {MISSING_RULES}, got {missing!r}')
    out = {}
    lower = False
    for ability in mapping:
        if ability == 'route_scenarios':
            continue
        keys = ability_members(records, mapping, ability)
        present = {k for k in keys if k in records}
        denom = keys if missing == 'failure' else present
        ok = {k for k in present if is_success(records[k])}
        entry = {}
        if ability == 'Traffic_Signs':
            cands = sign_credit_candidates(records, present)
            if sign_credit is None:
                entry['lower_bound'] = lower = bool(cands)
                entry['num_credit_candidates'] = len(cands)
            else:
                entry['num_credited'] = len(set(cands) & set(sign_credit))
                ok |= set(cands) & set(sign_credit)
        n = len(denom)
        ds = sum(float(records[k]['scores']['score_composed']) for k in present)
        out[ability] = dict(
            success_rate=100.0 * len(ok) / n if n else float('nan'),
            driving_score=ds / n if n else float('nan'),
            num_routes=n,
            num_missing=len(keys - present),
            **entry,
        )
    rates = [v['success_rate'] for v in out.values() if not math.isnan(v['success_rate'])]
    out['mean'] = dict(success_rate=float(np.mean(rates)) if rates else float('nan'))
    if lower:
        out['mean']['lower_bound'] = True
    return out
