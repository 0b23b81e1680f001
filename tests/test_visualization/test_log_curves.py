# Copyright (c) mmautomot contributors. All rights reserved.
"""Training curves from MMEngine json logs (tools/analysis_tools/analyze_logs.py)."""

import json
import os.path as osp
import subprocess
import sys

import pytest

from mmautomot.visualization.log_curves import load_json_log, plot_curves

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_log(path):
    recs = [
        dict(lr=1e-3, loss=2.0, time=0.5, iter=1, step=1),
        dict(lr=1e-3, loss=1.5, time=0.3, iter=2, step=2),
        {'stp3/L2_avg': 1.25, 'step': 2},
        dict(lr=5e-4, loss=1.0, time=0.4, iter=3, step=3),
    ]
    path.write_text('\n'.join(json.dumps(r) for r in recs) + '\n')
    return str(path)


def test_load_json_log_splits_train_and_val(tmp_path):
    log = load_json_log(write_log(tmp_path / 'scalars.json'))
    assert log['train']['step'] == [1, 2, 3] and log['train']['loss'] == [2.0, 1.5, 1.0]
    assert log['val'] == {'step': [2.0], 'stp3/L2_avg': [1.25]}
    fig = plot_curves([log], ['loss', 'stp3/L2_avg'])
    lines = [ax.lines[0].get_ydata().tolist() for ax in fig.axes]
    assert lines == [[2.0, 1.5, 1.0], [1.25]]
    with pytest.raises(KeyError, match="'nope'"):
        plot_curves([log], ['nope'])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"step": 1, "lr": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'bad.json:2'):
        load_json_log(str(bad))


def test_analyze_logs_tool(tmp_path):
    log = write_log(tmp_path / 'scalars.json')
    out = tmp_path / 'curves.png'
    tool = osp.join(REPO, 'tools', 'analysis_tools', 'analyze_logs.py')
    proc = subprocess.run(
        [sys.executable, tool, 'plot_curve', log, '--keys', 'loss', 'stp3/L2_avg', '--out', str(out)],
        capture_output=True,
        text=True,
        env={'MPLBACKEND': 'Agg'},
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 5000
    proc = subprocess.run([sys.executable, tool, 'cal_train_time', log], capture_output=True, text=True)
    assert 'mean 0.4000 s/iter, slowest 0.5000, fastest 0.3000' in proc.stdout, proc.stdout + proc.stderr
