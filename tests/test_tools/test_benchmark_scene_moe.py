# Copyright (c) mmautomot contributors. All rights reserved.
"""tools/analysis_tools/benchmark_scene_moe.py at tiny sizes: JSON fields and mode equivalence."""

import importlib.util
import json
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_scene_moe.py')


def test_benchmark_scene_moe_json(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location('benchmark_scene_moe', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / 'lat.json'
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'x',
            '--hidden',
            '16',
            '--intermediate',
            '24',
            '--experts',
            '3',
            '--layers',
            '2',
            '--tokens',
            '5',
            '--steps',
            '2',
            '--repeats',
            '1',
            '--scene-dims',
            '8',
            '--out',
            str(out),
        ],
    )
    mod.main()
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text())
    assert printed == saved
    assert set(saved['ms_per_sample']) == {'scene_mix', 'scene_merge', 'scene_average', 'token_topk'}
    assert all(v > 0 for v in saved['ms_per_sample'].values())
    assert saved['merge_vs_mix_max_abs_diff'] < 1e-5  # exact merge
    assert saved['average_vs_mix_max_abs_diff'] > 0  # parameter averaging is another function
    assert saved['config']['experts'] == 3
