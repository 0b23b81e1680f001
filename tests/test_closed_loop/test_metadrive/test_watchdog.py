# Copyright (c) mmautomot contributors. All rights reserved.
"""The per-episode watchdog: a hanging (or crashing) episode is killed and recorded, the evaluation goes on."""

import json
import os
import os.path as osp
import time

import numpy as np
import pytest

pytest.importorskip('metadrive')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


class HangOnce:
    """Drives straight; the first time any process reaches ``hang_at_tick`` it sleeps forever, the second
    time it reaches ``exit_at_tick`` its process exits with code 3 (a crash in native code).

    Marker files (``marker``, ``marker + '.exit'``) remember both across worker processes, so the third
    episode drives normally. Built in the worker from the config (``driver.type='factory'``).
    """

    def __init__(self, hang_at_tick, exit_at_tick, marker):
        self.hang_at_tick, self.exit_at_tick, self.marker = int(hang_at_tick), int(exit_at_tick), marker

    def step(self, obs):
        if obs['tick'] == self.hang_at_tick and not osp.exists(self.marker):
            open(self.marker, 'w').close()
            while True:  # a frame that never renders
                time.sleep(1.0)
        if obs['tick'] == self.exit_at_tick and osp.exists(self.marker) and not osp.exists(self.marker + '.exit'):
            open(self.marker + '.exit', 'w').close()
            os._exit(3)
        wps = np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], 1)
        return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)


def test_hanging_and_crashing_episodes_are_recorded_and_the_next_one_runs(tmp_path, monkeypatch):
    monkeypatch.setenv('MMAUTOMOT_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    from mmengine.config import Config

    from mmautomot.closed_loop.metadrive.evaluate import evaluate

    cfg = Config.fromfile(osp.join(ROOT, 'configs/metadrive/quick_test_metadrive.py')).to_dict()
    marker = str(tmp_path / 'hung')
    kwargs = dict(hang_at_tick=5, exit_at_tick=3, marker=marker)
    cfg['driver'] = dict(type='factory', factory=f'{__name__}:HangOnce', kwargs=kwargs)
    cfg['episode'] = dict(cfg['episode'], max_steps=30, timeout_s=4.0)
    out = tmp_path / 'out'
    res = evaluate(cfg, 3, 0, str(out), progress=False)
    assert osp.exists(marker)
    ep0, died, ep1 = res['episodes']
    assert ep0['status'] == 'Failed - Timeout' and ep0['failure'] == 'timeout after 4 s at tick 5'
    assert ep0['driving_score'] == 0.0 and ep0['route_completion'] == 0.0 and ep0['steps'] == 5
    assert 4.0 <= ep0['wall_s'] < 30.0
    assert died['status'] == 'Failed - Worker died' and died['failure'] == 'episode worker died (exit code 3) at tick 3'
    assert died['driving_score'] == 0.0 and (out / died['dir'] / 'record.json').is_file()
    rec0 = json.loads((out / ep0['dir'] / 'record.json').read_text())
    assert rec0['status'] == 'Failed - Timeout' and rec0['meta']['failure'] == ep0['failure']
    # the next episode ran in a fresh worker, with its outputs where an in-process run puts them
    assert ep1['failure'] is None and ep1['steps'] == 30 and ep1['route_completion'] > 0
    assert ep1['dir'] == osp.join('episodes', '002_seed2')
    for name in ('record.json', 'bev.png', 'metric_info.json'):
        assert (out / ep1['dir'] / name).is_file(), name
    s = json.loads((out / 'results.json').read_text())['summary']
    assert s['num_episodes'] == 3
    assert s['driving_score']['mean'] == pytest.approx(ep1['driving_score'] / 3)
    assert [(f['seed'], f['reason']) for f in s['failures']] == [(0, ep0['failure']), (1, died['failure'])]
    assert s['watchdog']['timeout_s'] == 4.0 and s['watchdog']['timeouts'] == 1
    assert len(s['watchdog']['workers']) == 3  # restarted after the kill and after the crash
    assert os.path.isdir(out / 'episodes' / '000_seed0')
