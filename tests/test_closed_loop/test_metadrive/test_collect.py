# Copyright (c) mmautomot contributors. All rights reserved.
"""MetaDrive expert episodes -> PDM-Lite route folders -> info pkls with consistent planning labels."""

import pickle

import numpy as np
import pytest

pytest.importorskip('metadrive')


def test_expert_episode_becomes_info_pkls(tmp_path, monkeypatch):
    monkeypatch.setenv('MMAUTOMOT_CACHE', str(tmp_path / 'cache'))
    from mmautomot.closed_loop.metadrive.collect import collect

    out = tmp_path / 'data'
    res = collect(
        str(out),
        episodes=2,
        seed=7,
        max_steps=80,
        every=2,
        env_cfg=dict(map='S', traffic_density=0.3),
        val_ratio=0.5,
        progress=False,
    )
    assert [e['frames'] for e in res['episodes']] == [40, 40]
    assert (out / 'seed_0007' / 'measurements' / '0000.json.gz').is_file()
    assert (out / 'seed_0008' / 'lidar' / '0039.npy').is_file()
    with open(res['infos']['train'], 'rb') as f:
        train = pickle.load(f)
    infos = train['data_list']
    assert len(infos) == 40 and train['metainfo']['planning']['plan_dt'] == 0.5
    info = infos[20]
    # 10 Hz frames: the label's future is the expert's own next positions, ahead along x
    fut = info['ego_fut_trajs']
    assert info['ego_fut_masks'][:2].all() and (np.diff(fut[info['ego_fut_masks'] > 0, 0]) > 0).all()
    speed = info['ego_status'][0]
    assert fut[0, 0] == pytest.approx(speed * 0.5, rel=0.25, abs=0.3)
    assert abs(fut[:, 1]).max() < 2.0  # a straight road
    assert info['target_point'][0] > 0 and info['command'] == 3  # lane follow
    pts = np.load(tmp_path / 'data' / info['lidar_points']['lidar_path'])
    assert pts.dtype == np.float32 and pts.shape[1] == 4 and len(pts) > 0
