# Copyright (c) mmautomot contributors. All rights reserved.
"""tools/closed_loop/run_metadrive.py: a short closed-loop evaluation writes results.json and plots."""

import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

pytest.importorskip('metadrive')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location('run_metadrive', osp.join(ROOT, 'tools/closed_loop/run_metadrive.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_closed_loop_run(tmp_path, monkeypatch):
    monkeypatch.setenv('MMAUTOMOT_CACHE', str(tmp_path / 'cache'))
    out = tmp_path / 'run'
    cfg = osp.join(ROOT, 'configs/metadrive/quick_test_metadrive.py')
    assert (
        _tool().main(
            [
                cfg,
                '--episodes',
                '2',
                '--seed',
                '3',
                '--out',
                str(out),
                '--no-progress',
                '--cfg-options',
                'episode.max_steps=60',
            ]
        )
        == 0
    )
    res = json.loads((out / 'results.json').read_text())
    s = res['summary']
    assert s['num_episodes'] == 2 and res['seeds'] == [3, 4]
    for key in ('driving_score', 'route_completion', 'success_rate'):
        assert set(s[key]) == {'mean', 'std'}
    ds = [e['driving_score'] for e in res['episodes']]
    assert s['driving_score']['mean'] == pytest.approx(np.mean(ds))
    assert s['driving_score']['std'] == pytest.approx(np.std(ds, ddof=1))
    for e in res['episodes']:
        assert e['steps'] == 60 and e['status'] == 'Failed - Route timeout' and e['failure'] is None
        assert (out / e['dir'] / 'bev.png').is_file() and (out / e['dir'] / 'metric_info.json').is_file()
    # the constant-velocity plan from standstill is standing still: nothing completed
    assert s['route_completion']['mean'] < 1.0


def test_a_failing_model_is_recorded_and_the_evaluation_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv('MMAUTOMOT_CACHE', str(tmp_path / 'cache'))
    from mmengine.config import Config

    from mmautomot.closed_loop.metadrive.evaluate import evaluate

    cfg = Config.fromfile(osp.join(ROOT, 'configs/metadrive/quick_test_metadrive.py')).to_dict()
    cfg['episode'] = dict(cfg['episode'], max_steps=40)

    class Flaky:
        calls = 0

        def step(self, obs):
            if obs['reset']:
                Flaky.calls += 1
            if Flaky.calls == 1:
                raise ValueError('weights went NaN')
            wps = np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], 1)
            return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)

    res = evaluate(cfg, 2, 0, str(tmp_path / 'out'), driver=Flaky(), progress=False)
    eps = res['episodes']
    assert eps[0]['failure'].startswith('model exception at tick 0') and 'weights went NaN' in eps[0]['failure']
    assert eps[1]['failure'] is None and eps[1]['steps'] == 40 and eps[1]['route_completion'] > 0
    assert (
        res['summary']['failures'] == [dict(episode='0', seed=0, reason=eps[0]['failure'])]
        or res['summary']['failures'][0]['reason'] == eps[0]['failure']
    )


def test_convert_scenarios_tool(tmp_path, capsys):
    import mmengine

    from mmautomot.utils.safe_pickle import load_pickle_safe

    frames = []
    for k in range(5):
        pose = np.eye(4)
        pose[:2, 3] = 110.0 + 3.0 * k, 148.25
        frames.append(dict(token=f's{k}', scene_token=f'sc{k // 3}', timestamp=1.0 + 0.5 * k, ego2global=pose))
    info = tmp_path / 'infos.pkl'
    mmengine.dump(dict(metainfo=dict(categories=dict(car=0), version='t'), data_list=frames), str(info))
    spec = importlib.util.spec_from_file_location(
        'convert_metadrive_scenarios', osp.join(ROOT, 'tools/closed_loop/convert_metadrive_scenarios.py')
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'sd'
    assert tool.main([str(info), '--out', str(out), '--lights', '10', '2']) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == dict(scenarios=2, out=str(out))
    summary = load_pickle_safe(str(out / 'dataset_summary.pkl'))
    assert sorted(v['scenario_id'] for v in summary.values()) == ['sc0', 'sc1']
    assert tool.main([str(tmp_path / 'missing.pkl'), '--out', str(out)]) == 2


def test_scenario_config_runs(tmp_path, monkeypatch):
    """configs/metadrive/constant-velocity_metadrive-scenario.py on a converted two-scene info pkl."""
    import mmengine

    monkeypatch.setenv('MMAUTOMOT_CACHE', str(tmp_path / 'cache'))
    frames = []
    for k in range(10):
        pose = np.eye(4)
        pose[:2, 3] = 110.0 + 3.0 * (k % 5), 148.25
        frames.append(dict(token=f's{k}', scene_token=f'sc{k // 5}', timestamp=1.0 + 0.5 * k, ego2global=pose))
    info = tmp_path / 'infos.pkl'
    mmengine.dump(dict(metainfo=dict(categories=dict(car=0), version='t'), data_list=frames), str(info))
    out = tmp_path / 'run'
    cfg = osp.join(ROOT, 'configs/metadrive/constant-velocity_metadrive-scenario.py')
    argv = [cfg, '--episodes', '2', '--seed', '0', '--out', str(out), '--no-progress', '--cfg-options']
    assert _tool().main(argv + [f'env.info_file={info}', 'episode.max_steps=30']) == 0
    with open(out / 'results.json') as f:
        res = json.load(f)
    assert res['summary']['num_episodes'] == 2 and not res['summary']['failures']
    assert res['config']['env']['kind'] == 'scenario' and 'map' not in res['config']['env']
    assert len(list((out / 'scenarios').glob('sd_*.pkl'))) == 2
