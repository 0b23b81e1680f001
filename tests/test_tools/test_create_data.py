# Copyright (c) mmautomot contributors. All rights reserved.
import importlib.util
import os.path as osp
import sys

import pytest
from mmengine.fileio import load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(rel_path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_synthetic_then_create_data(tmp_path, monkeypatch, capsys):
    make = _load_tool('tools/misc/make_synthetic_nuscenes.py', 'make_synthetic_nuscenes_tool')
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'make_synthetic_nuscenes.py',
            '--out',
            str(tmp_path / 'data'),
            '--scenes',
            '2',
            '--keyframes',
            '3',
            '--image-size',
            '64',
            '36',
            '--seed',
            '1',
        ],
    )
    make.main()
    assert 'Wrote v1.0-mini' in capsys.readouterr().out
    assert (tmp_path / 'data' / 'v1.0-mini' / 'sample_data.json').is_file()

    create = _load_tool('tools/create_data.py', 'create_data_tool')
    rc = create.main(
        [
            'nuscenes',
            '--root-path',
            str(tmp_path / 'data'),
            '--out-dir',
            str(tmp_path / 'out'),
            '--version',
            'v1.0-mini',
            '--max-sweeps',
            '2',
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert 'train: 3 samples' in out and 'val: 3 samples' in out and 'Skipped 0 samples' in out
    train = load(str(tmp_path / 'out' / 'nuscenes_infos_train.pkl'))
    assert len(train['data_list']) == 3
    assert len(train['data_list'][-1]['lidar_sweeps']) == 2


def test_create_data_reports_missing_table(tmp_path, capsys):
    create = _load_tool('tools/create_data.py', 'create_data_tool')
    rc = create.main(['nuscenes', '--root-path', str(tmp_path), '--version', 'v1.0-trainval'])
    assert rc == 1
    err = capsys.readouterr().err
    assert osp.join(str(tmp_path), 'v1.0-trainval', 'attribute.json') in err
    with pytest.raises(SystemExit):
        create.parse_args(['kitti', '--root-path', 'x'])
