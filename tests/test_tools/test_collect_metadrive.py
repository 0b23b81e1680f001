# Copyright (c) mmautomot contributors. All rights reserved.
"""tools/closed_loop/collect_metadrive.py: expert episodes with a rolling start (--spawn-speed)."""

import gzip
import importlib.util
import json
import os.path as osp

import pytest

pytest.importorskip('metadrive')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_spawn_speed_starts_the_expert_rolling(tmp_path, monkeypatch):
    monkeypatch.setenv('MMAUTOMOT_CACHE', str(tmp_path / 'cache'))
    path = osp.join(ROOT, 'tools/closed_loop/collect_metadrive.py')
    spec = importlib.util.spec_from_file_location('collect_metadrive', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'data'
    argv = ['--out', str(out), '--episodes', '1', '--seed', '5', '--max-steps', '6', '--map', 'S', '--spawn-speed', '5']
    assert tool.main(argv) == 0
    with gzip.open(out / 'seed_0005' / 'measurements' / '0000.json.gz', 'rt') as f:
        first = json.load(f)
    assert first['speed'] == pytest.approx(5.0, abs=0.3) and first['tick'] == 0
    assert (out / 'metadrive_infos_train.pkl').is_file()
