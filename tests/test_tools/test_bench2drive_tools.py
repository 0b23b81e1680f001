# Copyright (c) mmautomot contributors. All rights reserved.
import importlib.util
import json
import os
import os.path as osp
import sys

import pytest

from mmautomot.closed_loop.eval_runner import split_routes

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'bench2drive')


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'b2d_{name}', osp.join(TOOLS, f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _record(rid, status, score):
    return dict(
        route_id=f'RouteScenario_{rid}_rep0',
        status=status,
        num_infractions=0,
        infractions=dict(min_speed_infractions=[], collisions_vehicle=[]),
        scores=dict(score_route=score, score_penalty=1.0, score_composed=score),
        meta=dict(route_length=100.0, duration_game=30.0),
    )


def test_merge_results_cli(tmp_path):
    for seed, scores in enumerate([(100.0, 50.0), (100.0, 70.0)]):
        d = tmp_path / f'seed{seed}'
        d.mkdir()
        recs = [_record(1, 'Completed', scores[0]), _record(2, 'Failed - Agent got blocked', scores[1])]
        (d / 'res.json').write_text(json.dumps({'_checkpoint': {'records': recs}, 'global_record': {}}))
        (d / 'r1').mkdir()
        (d / 'r1' / 'metric_info.json').write_text(
            json.dumps(
                {
                    str(k): dict(
                        location=[k, 0, 0],
                        rotation=[0, 0, 0],
                        velocity=[1, 0, 0],
                        acceleration=[0, 0, 0],
                        angular_velocity=[0, 0, 0],
                    )
                    for k in range(40)
                }
            )
        )
    out = tmp_path / 'summary.json'
    _tool('merge_results').main(['-f', str(tmp_path / 'seed0'), '--json', str(out), '--allow-partial'])
    res = json.loads(out.read_text())
    assert res['driving_score'] == pytest.approx(150 / 220) and res['success_rate'] == pytest.approx(100 / 220)
    assert res['num_routes'] == 2 and res['comfort'] == 100.0
    summary = _tool('merge_results').main(
        ['-f', str(tmp_path / 'seed0'), str(tmp_path / 'seed1'), '--expected-routes', '2']
    )
    assert summary['driving_score']['mean'] == pytest.approx(80.0)
    assert summary['driving_score']['std'] == pytest.approx(7.0710678, rel=1e-6)
    assert summary['success_rate'] == dict(mean=50.0, std=0.0)


FAKE_LEADERBOARD = r"""
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument('--routes'); p.add_argument('--checkpoint'); p.add_argument('--port'); p.add_argument('--marker')
a = p.parse_args()
rid = os.environ['ROUTES_SUBSET']
open(a.marker + '/calls.log', 'a').write(f'{rid} {a.port}\n')
crash = rid == '2' and not os.path.exists(a.marker + '/crashed_once')
if crash:
    open(a.marker + '/crashed_once', 'w').close()
status = 'Failed - Simulation crashed' if crash else 'Completed'
rec = dict(route_id=f'RouteScenario_{rid}_rep0', status=status, infractions={}, num_infractions=0,
           scores=dict(score_route=100.0, score_penalty=1.0, score_composed=0.0 if crash else 100.0), meta={})
json.dump({'_checkpoint': {'records': [rec]}}, open(a.checkpoint, 'w'))
sys.exit(1 if crash else 0)
"""

FAKE_CARLA = "import os, sys, time; open(os.path.join(sys.argv[1], 'carla_%d' % os.getpid()), 'w'); time.sleep(600)"


def test_run_evaluation_with_fake_carla(tmp_path):
    routes = tmp_path / 'routes.xml'
    routes.write_text(
        '<routes>' + ''.join(f'<route id="{i}" town="Town01"><waypoints/></route>' for i in range(1, 5)) + '</routes>'
    )
    lb = tmp_path / 'fake_lb.py'
    lb.write_text(FAKE_LEADERBOARD)
    carla = tmp_path / 'fake_carla.py'
    carla.write_text(FAKE_CARLA)
    pids = tmp_path / 'pids'
    pids.mkdir()
    out = tmp_path / 'out'
    args = [
        '--routes',
        str(routes),
        '--out',
        str(out),
        '--num-instances',
        '2',
        '--carla-startup',
        '0.2',
        '--carla-cmd',
        f'{sys.executable} {carla} {pids} --port={{port}}',
        '--leaderboard-cmd',
        f'{sys.executable} {lb} --routes={{routes}} --checkpoint={{checkpoint}} --port={{port}} --marker={tmp_path}',
    ]
    _tool('run_evaluation').main(args)
    calls = (tmp_path / 'calls.log').read_text().split('\n')[:-1]
    assert sorted(c.split()[0] for c in calls) == ['1', '2', '2', '3', '4']  # route 2 retried once
    assert {c.split()[1] for c in calls} <= {'2000', '2150'}
    for i in range(1, 5):
        rec = json.loads((out / 'results' / f'{i}.json').read_text())['_checkpoint']['records'][0]
        assert rec['status'] == 'Completed'
    started = [int(p.name.split('_')[1]) for p in pids.iterdir()]
    assert len(started) >= 3  # 2 instances + 1 restart after the crash
    for pid in started:  # every CARLA process the runner started is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # resume: nothing left to run
    _tool('run_evaluation').main(args)
    assert len((tmp_path / 'calls.log').read_text().split('\n')[:-1]) == 5


def test_split_routes_errors(tmp_path):
    bad = tmp_path / 'bad.xml'
    bad.write_text('<routes><route town="x"/></routes>')
    with pytest.raises(ValueError, match='no id'):
        split_routes(str(bad), str(tmp_path / 'o'))


def test_make_synthetic_routes_cli(tmp_path):
    names = _tool('make_synthetic_routes').main(['--out', str(tmp_path), '--routes', '1', '--frames', '12'])
    assert len(names) == 1
    route = tmp_path / names[0]
    assert len(os.listdir(route / 'anno')) == 12 and len(os.listdir(route / 'camera' / 'rgb_back')) == 12
    assert (route / 'lidar' / '00011.npy').is_file()


def test_serve_model_args():
    args = _tool('serve_model').parse_args(['cfg.py', 'ckpt.pth', '--port', '6000', '--driver-kwargs', 'ue_interval=3'])
    assert args.port == 6000 and args.checkpoint == 'ckpt.pth' and args.driver_kwargs == {'ue_interval': 3}
