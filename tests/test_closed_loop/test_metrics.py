# Copyright (c) mmautomot contributors. All rights reserved.
import json

import numpy as np
import pytest

from mmautomot.closed_loop.metrics import (
    ability_scores,
    aggregate_seeds,
    driving_score_success_rate,
    efficiency_from_records,
    load_ability_mapping,
    load_records,
)


def _rec(rid, status, score, infractions=None, scen=None):
    inf = dict(collisions_vehicle=[], red_light=[], min_speed_infractions=[], outside_route_lanes=[])
    inf.update(infractions or {})
    return dict(
        route_id=f'RouteScenario_{rid}_rep0',
        status=status,
        infractions=inf,
        scores=dict(score_route=100.0, score_penalty=score / 100.0, score_composed=score),
        meta=dict(route_length=300.0, duration_game=60.0, scenario_name=scen),
        num_infractions=sum(len(v) for v in inf.values()),
    )


def write_run(path, records, name='a.json'):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps({'_checkpoint': {'records': records, 'global_record': {}}}))


def test_ds_sr_by_hand(tmp_path):
    recs = [
        _rec(1, 'Completed', 100.0),  # success
        _rec(
            2,
            'Perfect',
            100.0,
            dict(min_speed_infractions=["Average agent speed is 80.0% of the surrounding traffic's one"]),
        ),
        _rec(3, 'Completed', 60.0, dict(collisions_vehicle=['hit'])),  # infraction: failure
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


def test_load_records_refuses_repetitions(tmp_path):
    from mmautomot.closed_loop.metrics import ResultsError, evaluate_run_dir

    r1 = _rec(7, 'Completed', 90.0)
    write_run(tmp_path, [r1, dict(r1, route_id='RouteScenario_7_rep1')])
    with pytest.raises(ResultsError, match='2 repetitions'):
        load_records(str(tmp_path))
    res = evaluate_run_dir(str(tmp_path), expected_routes=1)
    assert res['driving_score'] == dict(mean=90.0, std=0.0) and res['num_repetitions'] == 2


def test_efficiency_parses_percentages():
    recs = {
        '1': _rec(1, 'Completed', 100, dict(min_speed_infractions=['a 50% b', 'a 70% b'])),
        '2': _rec(2, 'Completed', 100, dict(min_speed_infractions=['x 90.5% y', 'x 5000% y'])),
        '3': _rec(3, 'Completed', 100),
    }
    assert efficiency_from_records(recs) == pytest.approx((60.0 + 90.5) / 2)


def test_abilities_from_json_and_checkout(tmp_path):
    recs = {
        '1': _rec(1, 'Completed', 100.0, scen='Accident'),
        '2': _rec(2, 'Failed', 30.0, scen='Accident'),
        '3': _rec(3, 'Completed', 100.0, scen='HardBreakRoute'),
    }
    mfile = tmp_path / 'map.json'
    mfile.write_text(json.dumps({'Overtaking': ['Accident'], 'Emergency_Brake': ['3', '99']}))
    m = load_ability_mapping(mapping_file=str(mfile))
    res = ability_scores(recs, m)
    assert res['Overtaking']['success_rate'] == pytest.approx(50.0) and res['Overtaking']['num_routes'] == 2
    assert res['Emergency_Brake']['success_rate'] == 100.0  # route 99 missing: left out
    assert res['Emergency_Brake']['num_missing'] == 1
    assert res['mean']['success_rate'] == pytest.approx(75.0)
    res = ability_scores(recs, m, missing='failure')  # ours: missing = failure
    assert res['Emergency_Brake']['success_rate'] == pytest.approx(50.0)
    assert res['mean']['success_rate'] == pytest.approx(50.0)
    root = tmp_path / 'b2d'
    (root / 'tools').mkdir(parents=True)
    (root / 'leaderboard' / 'data').mkdir(parents=True)
    (root / 'tools' / 'ability_benchmark.py').write_text(
        "import os\nABILITY = {'Overtaking': ['Accident'], 'Merging': ['X'], 'Emergency_Brake': ['Y'],\n"
        "           'Give_Way': ['Z'], 'Traffic_Signs': ['W']}\nos.system('false')\n"
    )
    (root / 'leaderboard' / 'data' / 'bench2drive220.xml').write_text(
        '<routes><route id="1" town="Town12"><scenarios><scenario name="a" type="Accident"/></scenarios>'
        '</route><route id="4" town="Town12"><scenarios><scenario name="b" type="Y"/></scenarios></route></routes>'
    )
    m = load_ability_mapping(b2d_root=str(root))
    assert m['route_scenarios']['4'] == ['Y'] and m['Overtaking'] == {'Accident'}
    res = ability_scores({'1': _rec(1, 'Completed', 100.0)}, m)
    assert res['Overtaking']['success_rate'] == 100.0
    assert np.isnan(res['Emergency_Brake']['success_rate']) and res['Emergency_Brake']['num_missing'] == 1
    res = ability_scores({'1': _rec(1, 'Completed', 100.0)}, m, missing='failure')
    assert res['Emergency_Brake'] == dict(success_rate=0.0, driving_score=0.0, num_routes=1, num_missing=1)


def test_aggregate_seeds():
    agg = aggregate_seeds(
        [
            dict(driving_score=80.0, success_rate=60.0, efficiency=None, comfort=30.0),
            dict(driving_score=90.0, success_rate=70.0, efficiency=None, comfort=40.0),
        ]
    )
    assert agg['driving_score']['mean'] == 85.0
    assert agg['driving_score']['std'] == pytest.approx(np.std([80, 90], ddof=1))
    assert 'efficiency' not in agg and agg['num_runs'] == 2


def test_ability_map_as_scenario_types_reads_top_level_scenario_name(tmp_path):
    # the leaderboard writes scenario_name '<type>_<n>' at the record's top level (no 'meta' entry)
    recs = {}
    for rid, scen, status in [
        (1, 'SignalizedJunctionLeftTurn_1', 'Completed'),
        (2, 'Accident_3', 'Failed'),
        (3, 'Accident_1', 'Completed'),
    ]:
        rec = _rec(rid, status, 100.0 if status == 'Completed' else 20.0)
        rec['meta'] = dict(route_length=100.0)
        recs[str(rid)] = dict(rec, scenario_name=scen)
    mfile = tmp_path / 'map.json'
    mfile.write_text(json.dumps({'Overtaking': ['Accident'], 'Traffic_Signs': ['SignalizedJunctionLeftTurn']}))
    res = ability_scores(recs, load_ability_mapping(mapping_file=str(mfile)))
    assert res['Overtaking'] == dict(success_rate=50.0, driving_score=60.0, num_routes=2, num_missing=0)
    assert res['Traffic_Signs']['success_rate'] == 100.0 and res['mean']['success_rate'] == 75.0


def _road(rid, x0, length, junction, link):
    lane_link = ''.join(f'<{k} id="-1"/>' for k in ('predecessor', 'successor') if k in link)
    return (
        f'<road name="r{rid}" length="{length}" id="{rid}" junction="{junction}"><link>{link}</link>'
        f'<planView><geometry s="0" x="{x0}" y="0" hdg="0" length="{length}"><line/></geometry>'
        '</planView><lanes><laneSection s="0"><center><lane id="0" type="none" level="false"/>'
        '</center><right><lane id="-1" type="driving" level="false"><link>' + lane_link + '</link>'
        '<width sOffset="0" a="3.5" b="0" c="0" d="0"/></lane></right></laneSection></lanes></road>'
    )


def tiny_town_xodr():
    """A straight one-lane road: x 0-50 m road 1, x 50-60 m junction 100 (road 2), x 60-110 m road 3."""
    return (
        '<?xml version="1.0" standalone="yes"?><OpenDRIVE><header revMajor="1" revMinor="4" name="t" '
        'version="1" north="0" south="0" east="0" west="0"/>'
        + _road(1, 0, 50, -1, '<successor elementType="junction" elementId="100"/>')
        + _road(
            2,
            50,
            10,
            100,
            '<predecessor elementType="road" elementId="1" contactPoint="end"/>'
            '<successor elementType="road" elementId="3" contactPoint="start"/>',
        )
        + _road(3, 60, 50, -1, '<predecessor elementType="junction" elementId="100"/>')
        + '<junction id="100" name="j"><connection id="0" incomingRoad="1" connectingRoad="2" '
        'contactPoint="start"><laneLink from="-1" to="-1"/></connection></junction></OpenDRIVE>'
    )


def test_traffic_signs_credit_from_the_town_map(tmp_path):
    pytest.importorskip('carla')
    from mmautomot.closed_loop.junctions import first_junction_exit, load_town_map, route_waypoints_from_xml
    from mmautomot.closed_loop.metrics import evaluate_records

    (tmp_path / 'Town99.xodr').write_text(tiny_town_xodr())
    # CARLA y = -OpenDRIVE y: the right-hand lane centre is at CARLA y = +1.75
    route = '<waypoints><position x="0" y="1.75" z="0"/><position x="100" y="1.75" z="0"/></waypoints>'
    late = '<waypoints><position x="70" y="1.75" z="0"/><position x="100" y="1.75" z="0"/></waypoints>'
    xml = tmp_path / 'routes.xml'
    xml.write_text(
        '<routes>'
        + ''.join(f'<route id="{i}" town="Town99">{late if i == 9 else route}</route>' for i in range(5, 10))
        + '</routes>'
    )
    routes = route_waypoints_from_xml(str(xml))
    exit_frac = first_junction_exit(load_town_map(str(tmp_path), 'Town99'), routes['5']['points'])
    assert 0.60 <= exit_frac <= 0.62  # leaves the junction at x = 60..61 m
    assert first_junction_exit(load_town_map(str(tmp_path), 'Town99'), routes['9']['points']) is None

    def failed(rid, route_pct, **infr):
        rec = _rec(rid, 'Failed - Agent got blocked', route_pct * 0.5, infr)
        rec['scores']['score_route'] = route_pct
        return rec

    recs = {
        '5': failed(5, 80.0),  # past the junction: credited
        '6': failed(6, 40.0),  # stopped before it
        '7': failed(7, 80.0, red_light=['ran a red light']),  # red light: no credit
        '8': _rec(8, 'Completed', 100.0),  # success anyway
        '9': failed(9, 80.0),
    }  # route without a junction
    mapping = dict(Traffic_Signs={'5', '6', '7', '8', '9'}, Merging={'5'}, route_scenarios={})
    no_maps = evaluate_records(recs, 5, mapping)['abilities']
    assert no_maps['Traffic_Signs']['success_rate'] == pytest.approx(20.0)
    assert no_maps['Traffic_Signs']['lower_bound'] and no_maps['mean']['lower_bound']
    assert no_maps['Traffic_Signs']['num_credit_candidates'] == 3  # 5, 6, 9
    maps = evaluate_records(recs, 5, mapping, routes=routes, xodr_dir=str(tmp_path))['abilities']
    assert maps['Traffic_Signs']['success_rate'] == pytest.approx(40.0)  # 8 and 5
    assert maps['Traffic_Signs']['num_credited'] == 1 and 'lower_bound' not in maps['mean']
    assert maps['Merging']['success_rate'] == 0.0  # the credit is Traffic_Signs only
    with pytest.raises(FileNotFoundError, match='Town98.xodr'):
        load_town_map(str(tmp_path), 'Town98')
