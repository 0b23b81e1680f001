# Copyright (c) mmautomot contributors. All rights reserved.
"""End-to-end tests of tools/analysis_tools/eval_planning.py and bench_planning_metric.py."""

import importlib.util
import json
import os.path as osp
import pickle

import numpy as np
import pytest

from mmautomot.structures import INFO_VERSION, PLANNING_LAYOUT

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


T = 6
GT = np.stack([np.arange(1, T + 1) * 2.0, np.zeros(T)], axis=1).astype(np.float32)


def info(token, mask=None, agents=()):
    n = len(agents)
    return dict(
        sample_idx=0,
        token=token,
        scene_token='scene',
        timestamp=0.0,
        ego_fut_trajs=GT.copy(),
        ego_fut_lidar_trajs=GT.copy(),  # the LiDAR right above the rear axle: same numbers as 'ego'
        lidar_points=dict(lidar2ego=np.array([[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 1, 1.8], [0, 0, 0, 1]], np.float32)),
        ego_fut_masks=np.ones(T, np.float32) if mask is None else np.asarray(mask, np.float32),
        plan_agent_boxes=np.array([[x, y, 0.8, 4.0, 2.0, 1.6, 0.0] for x, y in agents], np.float32).reshape(n, 7),
        plan_agent_labels=np.zeros(n, np.int64),
        plan_agent_fut_trajs=np.array([np.tile([x, y], (T, 1)) for x, y in agents], np.float32).reshape(n, T, 2),
        plan_agent_fut_yaws=np.zeros((n, T), np.float32),
        plan_agent_fut_masks=np.ones((n, T), np.float32),
    )


@pytest.fixture
def ann(tmp_path):
    data = dict(
        metainfo=dict(dataset='nuscenes', version='v1.0-mini', info_version=INFO_VERSION, planning=PLANNING_LAYOUT),
        data_list=[info('a', agents=[(8.0, 5.0)]), info('b'), info('c', mask=[1, 1, 1, 1, 0, 0])],
    )
    path = tmp_path / 'infos.pkl'
    path.write_bytes(pickle.dumps(data))
    return str(path)


def write(tmp_path, obj, name='preds.pkl'):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj))
    return str(path)


def test_eval_planning_end_to_end(tmp_path, ann, capsys):
    hit = GT.copy()
    hit[3, 1] = 5.0  # step 4 into the car of sample a
    preds = [
        dict(token='a', pred_ego_fut_trajs=hit),
        dict(token='b', pred_ego_fut_trajs=GT + [0, 1]),
        dict(token='c', pred_ego_fut_trajs=GT.copy()),
    ]
    out = tmp_path / 'metrics.json'
    tool = load_tool('eval_planning')
    tool.main(['--results', write(tmp_path, preds), '--ann', ann, '--json', str(out)])
    printed = capsys.readouterr().out
    assert 'stp3: occupancy=vehicles+pedestrians' in printed and 'samples 2/3' in printed
    report = json.loads(out.read_text())
    m = report['metrics']
    assert report['num_samples'] == {'stp3': 2, 'uniad': 3}
    # stp3 (c dropped): a L2 [0,0,0,5,0,0], b L2 1 everywhere
    assert m['stp3/L2_1s'] == pytest.approx(0.5)
    assert m['stp3/L2_2s'] == pytest.approx((1.25 + 1) / 2)
    assert m['stp3/CR_2s'] == pytest.approx(12.5)
    # uniad (all 3 samples): step 4 of a collides -> 1 of 3
    assert m['uniad/CR_2s'] == pytest.approx(100 / 3)
    assert m['uniad/L2_2s'] == pytest.approx((5 + 1 + 0) / 3)
    assert report['protocols']['uniad']['invalid_policy'] == 'mask'
    assert report['collision_cfg']['ego_reference'] == 'lidar'


def test_eval_planning_dict_format_and_single_protocol(tmp_path, ann):
    preds = {'a': GT, 'b': GT, 'c': GT, 'zzz': GT}
    tool = load_tool('eval_planning')
    with pytest.warns(UserWarning, match=r"1 predicted tokens are not in the annotations.*'zzz'"):
        report = tool.main(['--results', write(tmp_path, preds), '--ann', ann, '--protocol', 'uniad'])
    assert sorted(report['metrics']) == sorted(
        f'uniad/{k}_{h}' for k in ('L2', 'CR') for h in ('1s', '2s', '3s', 'avg')
    )
    assert all(v == 0 for v in report['metrics'].values())
    # LiDAR-origin predictions (here the LiDAR sits above the axle) and the rear-axle reference
    preds = {'a': GT, 'b': GT, 'c': GT}
    lidar = tool.main(
        ['--results', write(tmp_path, preds), '--ann', ann, '--protocol', 'uniad', '--pred-reference', 'lidar']
    )
    assert lidar['pred_reference'] == 'lidar' and lidar['metrics'] == report['metrics']
    axle = tool.main(
        ['--results', write(tmp_path, preds), '--ann', ann, '--protocol', 'uniad', '--ego-reference', 'ego']
    )
    assert axle['collision_cfg']['ego_reference'] == 'ego'


def test_eval_planning_missing_tokens_error(tmp_path, ann):
    tool = load_tool('eval_planning')
    with pytest.raises(ValueError, match=r"2 of 3 annotated samples have no prediction, e.g. \['b', 'c'\]"):
        tool.main(['--results', write(tmp_path, {'a': GT}), '--ann', ann])
    with pytest.raises(ValueError, match=r"token 'a' must be \(T, 2\)"):
        tool.main(['--results', write(tmp_path, {'a': GT[:, :1]}), '--ann', ann])
    with pytest.raises(ValueError, match='entry 0 must be dict'):
        tool.main(['--results', write(tmp_path, [GT]), '--ann', ann])


def test_bench_script_json(capsys):
    bench = load_tool('bench_planning_metric')
    report = bench.main(['--num-samples', '40', '--agents', '10'])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == report
    assert set(report) == {
        'num_samples',
        'num_agents',
        'seconds_process',
        'seconds_compute',
        'seconds_total',
        'samples_per_second',
        'metrics',
    }
    assert report['num_samples'] == 40 and len(report['metrics']) == 16


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f'touch {self.marker}',)


def test_eval_planning_refuses_code_running_results(tmp_path, ann):
    """``--results`` is read with the restricted unpickler: the crafted file's code never runs."""
    marker = tmp_path / 'pwned'
    bad = write(tmp_path, [dict(token='a', pred_ego_fut_trajs=GT), _RunsCode(str(marker))], 'evil.pkl')
    with pytest.raises(SystemExit, match=r"Refusing to unpickle 'posix\.system' from '.*evil\.pkl'"):
        load_tool('eval_planning').main(['--results', bad, '--ann', ann])
    assert not marker.exists()


@pytest.mark.parametrize(
    'meta, expected',
    [
        (dict(info_version='0.5'), r"info_version '0\.5' found in metainfo, expected '1\.1'"),
        (dict(planning=dict(PLANNING_LAYOUT, fut_steps=12)), r'fut_steps: expected 6, found 12'),
    ],
)
def test_eval_planning_refuses_infos_of_another_layout(tmp_path, ann, meta, expected):
    """Infos of another version or planning layout fail saying what was expected and found (they used
    to give silently wrong metrics)."""
    with open(ann, 'rb') as f:
        data = pickle.load(f)
    data['metainfo'].update(meta)
    other = write(tmp_path, data, 'other_infos.pkl')
    preds = write(tmp_path, {t: GT for t in 'abc'})
    with pytest.raises(SystemExit, match=r'other_infos\.pkl.*' + expected):
        load_tool('eval_planning').main(['--results', preds, '--ann', other])
