# Copyright (c) mmautomot contributors. All rights reserved.
import json

import numpy as np
import pytest

from mmautomot.closed_loop.metrics import (ability_scores, aggregate_seeds, comfort_from_metric_info,
                                           driving_score_success_rate, efficiency_from_records,
                                           load_ability_mapping, load_records)


def _rec(rid, status, score, infractions=None, scen=None):
    inf = dict(collisions_vehicle=[], red_light=[], min_speed_infractions=[], outside_route_lanes=[])
    inf.update(infractions or {})
    return dict(route_id=f'RouteScenario_{rid}_rep0', status=status, infractions=inf,
                scores=dict(score_route=100.0, score_penalty=score / 100.0, score_composed=score),
                meta=dict(route_length=300.0, duration_game=60.0, scenario_name=scen),
                num_infractions=sum(len(v) for v in inf.values()))


def write_run(path, records, name='a.json'):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps({'_checkpoint': {'records': records, 'global_record': {}}}))


def test_ds_sr_by_hand(tmp_path):
    recs = [
        _rec(1, 'Completed', 100.0),                                            # success
        _rec(2, 'Perfect', 100.0, dict(min_speed_infractions=['Average agent speed is 80.0% of '
                                                              "the surrounding traffic's one"])),
        _rec(3, 'Completed', 60.0, dict(collisions_vehicle=['hit'])),           # infraction: failure
        _rec(4, 'Failed - Agent got blocked', 35.0),
        _rec(5, 'Failed - Agent crashed', 10.0),
    ]
    write_run(tmp_path, recs)
    records = load_records(str(tmp_path))
    with pytest.warns(UserWarning, match='found 5 routes but Bench2Drive has 220'):
        res = driving_score_success_rate(records)
    assert res['driving_score'] == pytest.approx((100 + 100 + 60 + 35 + 10) / 220)
    assert res['success_rate'] == pytest.approx(100 * 2 / 220)
    assert res['num_routes'] == 5 and res['num_missing'] == 215 and res['num_crashed'] == 1
    res = driving_score_success_rate(records, expected_routes=5, warn=False)
    assert res['driving_score'] == pytest.approx(61.0) and res['success_rate'] == pytest.approx(40.0)


def test_retry_replaces_simulation_crash(tmp_path):
    write_run(tmp_path, [_rec(7, 'Failed - Simulation crashed', 0.0)], 'a.json')
    write_run(tmp_path, [_rec(7, 'Completed', 90.0)], 'b.json')
    write_run(tmp_path, [_rec(7, 'Failed - Simulation crashed', 0.0)], 'c.json')
    assert load_records(str(tmp_path))['7']['status'] == 'Completed'


def test_efficiency_parses_percentages():
    recs = {'1': _rec(1, 'Completed', 100, dict(min_speed_infractions=['a 50% b', 'a 70% b'])),
            '2': _rec(2, 'Completed', 100, dict(min_speed_infractions=['x 90.5% y', 'x 5000% y'])),
            '3': _rec(3, 'Completed', 100)}
    assert efficiency_from_records(recs) == pytest.approx((60.0 + 90.5) / 2)


def _metric_info(n, acc_x=0.0, yaw_rate_deg=0.0, yaw_deg=0.0):
    return {str(k): dict(location=[k, 0, 0], rotation=[0, yaw_deg, 0], velocity=[5, 0, 0],
                         acceleration=[acc_x, 0, 0], angular_velocity=[0, 0, yaw_rate_deg]) for k in range(n)}


def test_comfort_segments():
    calm = _metric_info(40)
    hard = _metric_info(40, acc_x=-6.0)             # braking harder than -4.05 m/s^2
    spin = _metric_info(20, yaw_rate_deg=90.0)      # 1.57 rad/s > 0.95
    assert comfort_from_metric_info([calm]) == pytest.approx(100.0)
    assert comfort_from_metric_info([calm, hard, spin]) == pytest.approx(100 * 2 / 5)
    # heading matters: accelerating along +y while facing +y (CARLA yaw 90) is longitudinal
    side = {k: dict(v, acceleration=[0, 3.0, 0], rotation=[0, 90.0, 0]) for k, v in calm.items()}
    assert comfort_from_metric_info([side]) == 0.0  # lon acc 3.0 > 2.40


def test_abilities_from_json_and_checkout(tmp_path):
    recs = {'1': _rec(1, 'Completed', 100.0, scen='Accident'), '2': _rec(2, 'Failed', 30.0, scen='Accident'),
            '3': _rec(3, 'Completed', 100.0, scen='HardBreakRoute')}
    mfile = tmp_path / 'map.json'
    mfile.write_text(json.dumps({'Overtaking': ['Accident'], 'Emergency_Brake': ['3', '99']}))
    m = load_ability_mapping(mapping_file=str(mfile))
    res = ability_scores(recs, m)
    assert res['Overtaking']['success_rate'] == pytest.approx(50.0) and res['Overtaking']['num_routes'] == 2
    assert res['Emergency_Brake']['success_rate'] == pytest.approx(50.0)  # route 99 missing
    assert res['mean']['success_rate'] == pytest.approx(50.0)
    root = tmp_path / 'b2d'
    (root / 'tools').mkdir(parents=True)
    (root / 'leaderboard' / 'data').mkdir(parents=True)
    (root / 'tools' / 'ability_benchmark.py').write_text(
        "import os\nABILITY = {'Overtaking': ['Accident'], 'Merging': ['X'], 'Emergency_Brake': ['Y'],\n"
        "           'Give_Way': ['Z'], 'Traffic_Signs': ['W']}\nos.system('false')\n")
    (root / 'leaderboard' / 'data' / 'bench2drive220.xml').write_text(
        '<routes><route id="1" town="Town12"><scenarios><scenario name="a" type="Accident"/></scenarios>'
        '</route><route id="4" town="Town12"><scenarios><scenario name="b" type="Y"/></scenarios></route></routes>')
    m = load_ability_mapping(b2d_root=str(root))
    assert m['route_scenarios']['4'] == ['Y'] and m['Overtaking'] == {'Accident'}
    res = ability_scores({'1': _rec(1, 'Completed', 100.0)}, m)
    assert res['Overtaking']['success_rate'] == 100.0
    assert res['Emergency_Brake'] == dict(success_rate=0.0, driving_score=0.0, num_routes=1)


def test_aggregate_seeds():
    agg = aggregate_seeds([dict(driving_score=80.0, success_rate=60.0, efficiency=None, comfort=30.0),
                           dict(driving_score=90.0, success_rate=70.0, efficiency=None, comfort=40.0)])
    assert agg['driving_score']['mean'] == 85.0
    assert agg['driving_score']['std'] == pytest.approx(np.std([80, 90], ddof=1))
    assert 'efficiency' not in agg and agg['num_runs'] == 2
