# Copyright (c) mmautomot contributors. All rights reserved.
"""merge_results.py never prints a wrong number with exit status 0: each bad folder is an error or a
printed rule."""

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'bench2drive', 'merge_results.py')


def merge(argv):
    spec = importlib.util.spec_from_file_location('b2d_merge_results', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main([str(a) for a in argv])


def rec(rid, status='Completed', score=100.0, rep=0, **infractions):
    return dict(
        route_id=f'RouteScenario_{rid}_rep{rep}',
        status=status,
        num_infractions=0,
        infractions=dict(dict(min_speed_infractions=[], collisions_vehicle=[]), **infractions),
        scores=dict(score_route=100.0, score_penalty=score / 100.0, score_composed=score),
        meta=dict(route_length=100.0, duration_game=30.0),
    )


def write(path, records, name='res.json', **top):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps(dict({'_checkpoint': {'records': records}}, **top)))
    return path


def fails(argv, capsys, match):
    with pytest.raises(SystemExit) as err:
        merge(argv)
    assert err.value.code == 1
    msg = capsys.readouterr().err
    assert match in msg, msg
    return msg


def test_good_folder(tmp_path, capsys):
    d = write(tmp_path / 'run', [rec(1), rec(2, 'Failed - Agent got blocked', 40.0)])
    res = merge(['-f', d, '--expected-routes', 2, '--json', tmp_path / 'out.json'])
    assert res['driving_score'] == 70.0 and res['success_rate'] == 50.0 and res['num_missing'] == 0
    out = capsys.readouterr().out
    assert 'DS 70.00  SR 50.00%  routes 2/2' in out
    assert json.loads((tmp_path / 'out.json').read_text())['driving_score'] == 70.0


def test_truncated_json_is_an_error(tmp_path, capsys):
    d = write(tmp_path / 'run', [rec(1), rec(2)])
    (d / 'b.json').write_text(json.dumps({'_checkpoint': {'records': [rec(3)]}})[:-7])
    fails(['-f', d, '--expected-routes', 3], capsys, f'{d / "b.json"}: not valid JSON')


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), '88.0', None])
def test_non_finite_or_non_numeric_score_is_an_error(tmp_path, capsys, bad):
    r = rec(2)
    r['scores']['score_composed'] = bad
    d = write(tmp_path / 'run', [rec(1), r])
    fails(['-f', d, '--expected-routes', 2], capsys, 'RouteScenario_2_rep0: scores.score_composed')


def test_record_without_scores_is_an_error(tmp_path, capsys):
    r = rec(2)
    del r['scores']
    d = write(tmp_path / 'run', [rec(1), r])
    fails(['-f', d, '--expected-routes', 2], capsys, "RouteScenario_2_rep0 has no 'scores.score_composed'")


def test_repetitions_are_averaged(tmp_path, capsys):
    d = write(
        tmp_path / 'run',
        [
            rec(1, score=100.0, rep=0),
            rec(2, 'Failed', 20.0, rep=0),
            rec(1, 'Failed', 50.0, rep=1),
            rec(2, 'Failed', 30.0, rep=1),
        ],
    )
    res = merge(['-f', d, '--expected-routes', 2, '--json', tmp_path / 'out.json'])
    assert res['num_repetitions'] == 2
    assert res['driving_score']['mean'] == pytest.approx(50.0)  # reps give 60 and 40
    assert res['driving_score']['std'] == pytest.approx(np.std([60, 40], ddof=1))
    assert res['success_rate'] == dict(mean=25.0, std=pytest.approx(np.std([50, 0], ddof=1)))
    assert [r['driving_score'] for r in res['repetitions']] == [60.0, 40.0]
    out = capsys.readouterr().out
    assert 'DS 50.00 ± 14.14' in out and 'routes 2+2/2 x 2' in out and '2 repetitions' in out
    # a second folder (seed) aggregates the repetition means
    d2 = write(tmp_path / 'run2', [rec(1), rec(2)])
    res = merge(['-f', d, d2, '--expected-routes', 2])
    assert res['driving_score']['mean'] == pytest.approx(75.0)


def test_stale_merged_file_is_skipped(tmp_path, capsys):
    d = write(tmp_path / 'run', [rec(1), rec(2, 'Failed', 10.0)])
    write(d, [rec(1), rec(2)], name='merged.json', **{'driving score': 100.0, 'eval num': 2})
    write(d, [rec(1), rec(2)], name='zz_summary.json', **{'driving score': 100.0})  # renamed merge output
    res = merge(['-f', d, '--expected-routes', 2])
    assert res['driving_score'] == 55.0
    assert 'skipped merged result file(s) beside the per-route files' in capsys.readouterr().out
    # a folder holding only a merged file (as published) is read from it
    only = write(tmp_path / 'published', [rec(1), rec(2)], name='merged.json', **{'eval num': 2})
    assert merge(['-f', only, '--expected-routes', 2])['driving_score'] == 100.0


def test_empty_or_missing_folder_is_an_error(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    fails(['-f', tmp_path / 'empty'], capsys, 'no result JSON files')
    fails(['-f', tmp_path / 'nope'], capsys, 'no such result folder')
    write(tmp_path / 'norecords', [])
    fails(['-f', tmp_path / 'norecords'], capsys, 'no route records')


def test_unknown_route_ids_are_an_error(tmp_path, capsys):
    d = write(tmp_path / 'run', [rec(1), rec(2), rec(77)])
    xml = tmp_path / 'routes.xml'
    xml.write_text(
        '<routes>'
        + ''.join(
            f'<route id="{i}" town="Town01"><waypoints><position x="0" y="0" z="0"/></waypoints></route>'
            for i in (1, 2, 3)
        )
        + '</routes>'
    )
    fails(['-f', d, '--expected-routes', 3, '--routes', xml], capsys, 'not in the route file')
    fails(['-f', d, '--routes', xml], capsys, 'routes.xml has 3 routes but --expected-routes is 220')
    # without a route file: more distinct routes than the benchmark has
    fails(['-f', d, '--expected-routes', 2], capsys, 'rep0 has 3 distinct routes but the benchmark has 2')
    merge(['-f', write(tmp_path / 'ok', [rec(1), rec(2), rec(3)]), '--expected-routes', 3, '--routes', xml])
    assert 'route ids not checked' not in capsys.readouterr().out


def test_same_route_twice(tmp_path, capsys):
    d = write(tmp_path / 'run', [rec(1), rec(2, 'Failed', 30.0)])
    write(d, [rec(2, 'Failed', 60.0)], name='b.json')
    msg = fails(['-f', d, '--expected-routes', 2], capsys, 'recorded twice with different results')
    assert 'res.json' in msg and 'b.json' in msg
    write(d, [rec(2, 'Failed', 30.0)], name='b.json')  # identical copy: counted once
    assert merge(['-f', d, '--expected-routes', 2])['driving_score'] == 65.0
    assert '1 identical duplicate record(s) counted once' in capsys.readouterr().out
    write(d, [rec(2, 'Failed - Simulation crashed', 0.0)], name='a.json')  # crash then retry
    assert merge(['-f', d, '--expected-routes', 2])['driving_score'] == 65.0
    assert 'simulator-crash record(s) replaced by the retried route' in capsys.readouterr().out


def test_partial_folder_needs_allow_partial(tmp_path, capsys):
    d = write(tmp_path / 'run', [rec(1), rec(2)])
    fails(['-f', d], capsys, 'has 2 of 220 routes (218 missing)')
    res = merge(['-f', d, '--allow-partial', '--json', tmp_path / 'out.json'])
    assert res['driving_score'] == pytest.approx(200 / 220) and res['num_missing'] == 218
    assert 'rep0: 218 of 220 routes missing (counted as failures with score 0)' in capsys.readouterr().out


def test_nan_ability_is_null_in_json_and_lower_bounds_are_printed(tmp_path, capsys):
    d = write(
        tmp_path / 'run',
        [
            dict(rec(1, 'Failed', 20.0), scenario_name='OppositeVehicleRunningRedLight_1'),
            dict(rec(2), scenario_name='Accident_2'),
        ],
    )
    amap = tmp_path / 'map.json'
    amap.write_text(
        json.dumps(
            {
                'Overtaking': ['Accident'],
                'Give_Way': ['InvadingTurn'],
                'Traffic_Signs': ['OppositeVehicleRunningRedLight'],
            }
        )
    )
    merge(['-f', d, '--expected-routes', 2, '--ability-map', amap, '--json', tmp_path / 'out.json'])
    out = capsys.readouterr().out
    assert 'Overtaking 100.00' in out and 'Give_Way n/a' in out and 'Traffic_Signs >= 0.00' in out
    assert 'Traffic_Signs and the mean are lower bounds' in out
    text = (tmp_path / 'out.json').read_text()
    assert 'NaN' not in text and json.loads(text)['abilities']['Give_Way']['success_rate'] is None
    fails(
        ['-f', d, '--expected-routes', 2, '--ability-map', amap, '--xodr-dir', tmp_path],
        capsys,
        'needs the route waypoints: pass --routes or --b2d-root',
    )


def test_cli_exit_status(tmp_path):
    d = write(tmp_path / 'run', [rec(1)])
    env = dict(os.environ, PYTHONPATH=osp.join(osp.dirname(__file__), '..', '..'))
    proc = subprocess.run([sys.executable, TOOL, '-f', str(d)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and 'has 1 of 220 routes' in proc.stderr and proc.stdout == ''


PUBLISHED = dict(
    drivemoe_base_bf16_seed1=(74.22, 48.64),
    drivemoe_base_bf16_seed2=(73.08, 46.82),
    drivepi_base_bf16=(55.85, 30.00),
    drivepi_base_fp32=(65.85, 42.27),
    drivepi_full_fp32=(67.41, 44.09),
)


def _published_dir():
    """DriveMoE's published per-route result files (``docs/<name>.json`` of mr-d-self-driving/DriveMoE, not
    vendored): ``MMAUTOMOT_DRIVEMOE_RESULTS`` = a folder holding them, or a DriveMoE checkout."""
    d = os.environ.get('MMAUTOMOT_DRIVEMOE_RESULTS')
    for cand in [d, osp.join(d, 'docs')] if d else []:
        if all(osp.isfile(osp.join(cand, f'{n}.json')) for n in PUBLISHED):
            return cand
    return None


def test_published_drivemoe_files_stay_exact(tmp_path, capsys):
    src = _published_dir()
    if src is None:
        pytest.skip("set MMAUTOMOT_DRIVEMOE_RESULTS to a folder with DriveMoE's docs/*.json result files")
    for name, (ds, sr) in PUBLISHED.items():
        d = tmp_path / name
        d.mkdir()
        os.symlink(osp.join(src, f'{name}.json'), d / f'{name}.json')
        res = merge(['-f', d])
        assert (round(res['driving_score'], 2), round(res['success_rate'], 2)) == (ds, sr), name
        assert res['num_routes'] == 220
        if name == 'drivemoe_base_bf16_seed1':
            assert round(res['efficiency'], 2) == 175.96
