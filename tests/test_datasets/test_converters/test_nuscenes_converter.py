# Copyright (c) mmautomot contributors. All rights reserved.
import shutil

import numpy as np
import pytest

from mmautomot.datasets.converters import (
    NUS_CLASSES,
    create_nuscenes_infos,
    pad_history,
    resample_path,
    status_from_poses,
)
from mmautomot.structures import COMMANDS, LATERAL_CLASSES


def _by_scene(data_list):
    scenes = {}
    for info in data_list:
        scenes.setdefault(info['scene_token'], []).append(info)
    return [sorted(v, key=lambda i: i['timestamp']) for v in scenes.values()]


def test_metainfo_and_shapes(infos):
    assert set(infos) == {'train', 'val'}
    assert len(infos['train']['data_list']) == 8 and len(infos['val']['data_list']) == 8
    meta = infos['train']['metainfo']
    assert meta['dataset'] == 'nuscenes' and meta['version'] == 'v1.0-mini'
    assert list(meta['categories']) == list(NUS_CLASSES)
    assert meta['planning']['fut_steps'] == 6 and meta['planning']['path_points'] == 20
    info = infos['train']['data_list'][3]
    assert info['sample_idx'] == 3
    shapes = dict(
        ego2global=(4, 4),
        ego_fut_trajs=(6, 2),
        ego_fut_masks=(6,),
        ego_hist_trajs=(4, 2),
        ego_status=(4,),
        target_point=(2,),
        meta_actions=(3, 2),
        ego_path=(20, 2),
        ego_path_masks=(20,),
    )
    for key, shape in shapes.items():
        assert info[key].shape == shape, key
    assert info['meta_actions'].dtype == np.int64 and info['ego_fut_trajs'].dtype == np.float32
    assert info['lidar_points']['num_pts_feats'] == 5
    assert info['lidar_points']['lidar_path'].startswith('samples/LIDAR_TOP/')
    assert len(info['lidar_sweeps']) == 3
    ts = [s['timestamp'] for s in info['lidar_sweeps']]
    assert ts == sorted(ts, reverse=True) and ts[0] < info['timestamp']  # newest first
    assert list(info['images']) == [
        'CAM_FRONT',
        'CAM_FRONT_RIGHT',
        'CAM_FRONT_LEFT',
        'CAM_BACK',
        'CAM_BACK_LEFT',
        'CAM_BACK_RIGHT',
    ]
    assert info['images']['CAM_FRONT']['cam2img'].shape == (3, 3)
    hist = info['cam_front_hist']
    assert len(hist) == 4 and [h['timestamp'] for h in hist] == sorted(h['timestamp'] for h in hist)
    assert hist[-1]['img_path'] == info['images']['CAM_FRONT']['img_path']
    n = len(info['instances'])
    assert n > 0 and info['plan_agent_boxes'].shape == (n, 7)
    assert info['plan_agent_fut_trajs'].shape == (n, 6, 2)
    assert info['plan_agent_fut_yaws'].shape == (n, 6) and info['plan_agent_fut_masks'].shape == (n, 6)
    assert set(info['plan_agent_labels'].tolist()) <= set(range(10))
    assert info['can_bus'] is True


def test_straight_and_left_turn_frames(infos):
    left_scene = _by_scene(infos['train']['data_list'])[0]
    straight_scene = _by_scene(infos['val']['data_list'])[0]
    # driving straight ahead: x increases, y stays ~0, command go_straight
    info = straight_scene[0]
    fut = info['ego_fut_trajs']
    assert np.all(np.diff(np.concatenate([[0.0], fut[:, 0]])) > 0.5)
    assert np.abs(fut[:, 1]).max() < 0.05
    assert COMMANDS[info['command']] == 'go_straight'
    assert info['ego_status'][0] == pytest.approx(fut[0, 0] / 0.5, rel=0.15)
    np.testing.assert_allclose(info['target_point'], fut[-1])
    # the history lies behind (negative x)
    assert np.all(info['ego_hist_trajs'][:, 0] < 0) and np.all(np.diff(info['ego_hist_trajs'][:, 0]) > 0)
    # a left turn at the first junction: the future ends > 2 m to the left
    info = left_scene[0]
    assert info['ego_fut_trajs'][-1, 1] > 2.0
    assert COMMANDS[info['command']] == 'turn_left'
    assert LATERAL_CLASSES[info['meta_actions'][2, 0]] in ('left', 'slight_left')
    # the 1 m path follows the trajectory: consecutive points 1 m apart
    path, mask = info['ego_path'], info['ego_path_masks'].astype(bool)
    steps = np.linalg.norm(np.diff(np.concatenate([[[0.0, 0.0]], path[mask]]), axis=0), axis=1)
    np.testing.assert_allclose(steps, 1.0, atol=0.05)


def test_masks_at_scene_end(infos):
    for scene in _by_scene(infos['train']['data_list']) + _by_scene(infos['val']['data_list']):
        last, second_last = scene[-1], scene[-2]
        assert last['ego_fut_masks'].sum() == 0 and np.all(last['meta_actions'] == -1)
        np.testing.assert_array_equal(second_last['ego_fut_masks'], [1, 0, 0, 0, 0, 0])
        np.testing.assert_array_equal(second_last['ego_fut_trajs'][1:], 0)
        assert last['plan_agent_fut_masks'].sum() == 0
        assert np.all(second_last['plan_agent_fut_masks'][:, 1:] == 0)
        assert scene[0]['ego_fut_masks'].sum() == 6
        # cam history repeats the first frame at the scene start
        hist = [h['img_path'] for h in scene[0]['cam_front_hist']]
        assert len(set(hist)) == 1
        assert scene[0]['ego_hist_masks'].sum() == 0 and scene[-1]['ego_hist_masks'].sum() == 4


def test_agent_boxes_lidar_and_ego_frames_agree(infos, synth_root):
    for info in infos['train']['data_list'][:4]:
        l2e = info['lidar_points']['lidar2ego']
        pts = np.fromfile(synth_root / info['lidar_points']['lidar_path'], np.float32).reshape(-1, 5)
        for ins, box in zip(info['instances'], info['plan_agent_boxes']):
            x, y, z, l, w, h, yaw = ins['bbox_3d']
            c_ego = l2e[:3, :3] @ np.array([x, y, z]) + l2e[:3, 3]  # both gravity centres
            np.testing.assert_allclose(c_ego, box[:3], atol=1e-3)
            np.testing.assert_allclose([l, w, h], box[3:6], atol=1e-5)
            # LIDAR_TOP is yawed -90 deg: the ego yaw is the LiDAR yaw - 90 deg
            assert np.cos(box[6] - (yaw - np.pi / 2)) == pytest.approx(1.0, abs=1e-5)
            # the LiDAR points inside the LiDAR-frame box match the annotation's count
            p = pts[:, :3] - np.array([x, y, z - h / 2])  # from the bottom centre
            lx = p[:, 0] * np.cos(yaw) + p[:, 1] * np.sin(yaw)
            ly = -p[:, 0] * np.sin(yaw) + p[:, 1] * np.cos(yaw)
            inside = (np.abs(lx) < l / 2 + 0.05) & (np.abs(ly) < w / 2 + 0.05) & (p[:, 2] > 0.02) & (p[:, 2] < h + 0.05)
            assert abs(int(inside.sum()) - ins['num_lidar_pts']) <= max(2, 0.1 * ins['num_lidar_pts'])
            assert ins['bbox_3d_isvalid'] == (ins['num_lidar_pts'] > 0)


def test_ego_status_without_can_bus(synth_root, tmp_path):
    from mmengine.fileio import load

    root = tmp_path / 'nocan'
    shutil.copytree(synth_root, root, ignore=shutil.ignore_patterns('sweeps', 'CAM_*'))
    shutil.rmtree(root / 'can_bus')
    # sweeps are needed for the pose fallback; symlink them instead of copying
    (root / 'sweeps').symlink_to(synth_root / 'sweeps')
    for cam in (synth_root / 'samples').iterdir():
        if cam.name.startswith('CAM_'):
            (root / 'samples' / cam.name).symlink_to(cam)
    with_can = load(str(create_nuscenes_infos(str(synth_root), str(tmp_path / 'a'), version='v1.0-mini')['train']))[
        'data_list'
    ]
    without = load(str(create_nuscenes_infos(str(root), str(tmp_path / 'b'), version='v1.0-mini')['train']))[
        'data_list'
    ]
    for a, b in zip(with_can, without):
        assert a['can_bus'] and not b['can_bus']
        assert b['ego_status'][0] == pytest.approx(a['ego_status'][0], abs=0.3)
        # yaw rate: finite differences over +-0.1 s lag the CAN value where a turn starts
        assert b['ego_status'][3] == pytest.approx(a['ego_status'][3], abs=0.2)


def test_missing_table_and_file_errors(synth_root, tmp_path, capsys):
    root = tmp_path / 'broken'
    shutil.copytree(synth_root / 'v1.0-mini', root / 'v1.0-mini')
    (root / 'v1.0-mini' / 'sample.json').unlink()
    with pytest.raises(FileNotFoundError, match='v1.0-mini/sample.json'):
        create_nuscenes_infos(str(root), str(tmp_path), version='v1.0-mini')
    # all tables, but the LiDAR file of one keyframe is gone
    shutil.copy(synth_root / 'v1.0-mini' / 'sample.json', root / 'v1.0-mini' / 'sample.json')
    for sub in ('maps', 'can_bus', 'sweeps'):
        (root / sub).symlink_to(synth_root / sub)
    shutil.copytree(synth_root / 'samples', root / 'samples')
    from nuscenes.nuscenes import NuScenes

    nusc = NuScenes('v1.0-mini', str(root), verbose=False)
    sample = nusc.sample[2]
    lidar_file = nusc.get('sample_data', sample['data']['LIDAR_TOP'])['filename']
    (root / lidar_file).unlink()
    with pytest.raises(FileNotFoundError) as err:
        create_nuscenes_infos(str(root), str(tmp_path), version='v1.0-mini')
    assert sample['token'] in str(err.value) and lidar_file in str(err.value)
    paths = create_nuscenes_infos(str(root), str(tmp_path), version='v1.0-mini', skip_missing=True)
    out = capsys.readouterr().out
    assert 'Skipped 1 samples' in out and 'missing LiDAR/camera file' in out
    from mmengine.fileio import load

    assert len(load(paths['train'])['data_list']) == 7


def test_label_helpers():
    path, mask = resample_path(np.array([[1.5, 0.0], [3.0, 0.0]]), num=5, spacing=1.0)
    np.testing.assert_allclose(path[:, 0], [1, 2, 3, 3, 3])
    np.testing.assert_array_equal(mask, [1, 1, 1, 0, 0])
    hist = pad_history(
        np.array([[0, 0], [0, 0], [-2.0, 0.0], [-1.0, 0.0]]), np.array([False, False, True, True]), speed=5.0, dt=0.5
    )
    np.testing.assert_allclose(hist[:, 0], [-4, -3, -2, -1])
    hist = pad_history(np.zeros((4, 2)), np.zeros(4, bool), speed=4.0, dt=0.5)
    np.testing.assert_allclose(hist[:, 0], [-8, -6, -4, -2])
    # a car turning at 0.2 rad/s with 5 m/s: status from poses
    t = np.arange(5) * 0.1
    poses = []
    for ti in t:
        yaw = 0.2 * ti
        p = np.eye(4)
        p[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
        p[:2, 3] = [25 * np.sin(yaw), 25 * (1 - np.cos(yaw))]
        poses.append(p)
    status = status_from_poses(t, poses, 2)
    np.testing.assert_allclose(status, [5.0, 0.0, 1.0, 0.2], atol=0.02)


def test_lidar_origin_trajectory(infos):
    """``ego_fut_lidar_trajs``: the future LIDAR_TOP origins (the published protocols' point)."""
    scene = _by_scene(infos['train']['data_list'])[0]  # turns left
    cur = scene[0]
    g2e = np.linalg.inv(cur['ego2global'].astype(np.float64))
    turned = 0.0
    for k, fut in enumerate(scene[1:7]):
        e2g = fut['ego2global'].astype(np.float64)
        l2e = fut['lidar_points']['lidar2ego'].astype(np.float64)
        expected = (g2e @ e2g @ l2e)[:2, 3]
        np.testing.assert_allclose(cur['ego_fut_lidar_trajs'][k], expected, atol=1e-4)
        np.testing.assert_allclose(cur['ego_fut_trajs'][k], (g2e @ e2g)[:2, 3], atol=1e-4)
        lever = cur['ego_fut_lidar_trajs'][k] - cur['ego_fut_trajs'][k]
        assert np.linalg.norm(lever) == pytest.approx(np.linalg.norm(l2e[:2, 3]), abs=1e-4)
        turned = max(turned, abs(lever[1]))
    assert turned > 0.05  # the lever arm turns with the heading in the left turn
    second_last = scene[-2]
    np.testing.assert_array_equal(second_last['ego_fut_lidar_trajs'][1:], 0)


def _referenced_files(info):
    yield info['lidar_points']['lidar_path']
    for sweep in info['lidar_sweeps']:
        yield sweep['lidar_points']['lidar_path']
    for cam in info['images'].values():
        yield cam['img_path']
    for frame in info['cam_front_hist']:
        yield frame['img_path']


def test_skip_missing_fixes_every_reference(synth_root, tmp_path, capsys):
    """``--skip-missing`` drops a sample with a missing file AND repairs later samples' references to it
    (front-camera history, LiDAR sweeps): every file any kept info names exists."""
    from nuscenes.nuscenes import NuScenes

    from mmautomot.utils.safe_pickle import load_pickle_safe

    root = tmp_path / 'holes'
    shutil.copytree(synth_root / 'v1.0-mini', root / 'v1.0-mini')
    for sub in ('maps', 'can_bus', 'sweeps'):
        (root / sub).symlink_to(synth_root / sub)
    shutil.copytree(synth_root / 'samples', root / 'samples')
    nusc = NuScenes('v1.0-mini', str(root), verbose=False)
    scene = nusc.scene[0]
    toks, tok = [], scene['first_sample_token']
    while tok:
        toks.append(tok)
        tok = nusc.get('sample', tok)['next']
    front = nusc.get('sample_data', nusc.get('sample', toks[2])['data']['CAM_FRONT'])['filename']
    lidar = nusc.get('sample_data', nusc.get('sample', toks[4])['data']['LIDAR_TOP'])['filename']
    (root / front).unlink()
    (root / lidar).unlink()
    paths = create_nuscenes_infos(
        str(root), str(tmp_path / 'out'), version='v1.0-mini', max_sweeps=10, skip_missing=True
    )
    out = capsys.readouterr().out
    assert 'Skipped 2 samples' in out and 'front-camera history frame with a missing file replaced' in out
    kept = {}
    for path in paths.values():
        for info in load_pickle_safe(path)['data_list']:
            kept[info['token']] = info
            missing = [f for f in _referenced_files(info) if not (root / f).is_file()]
            assert not missing, f'{info["token"]} references missing files {missing}'
    assert toks[2] not in kept and toks[4] not in kept and toks[3] in kept
    hist = [f['img_path'] for f in kept[toks[3]]['cam_front_hist']]
    cur = kept[toks[3]]['images']['CAM_FRONT']['img_path']
    # sample 3's history was (0, 1, 2, 3); frame 2 is gone and is replaced by the next newer one (3)
    assert hist[-1] == cur and hist[-2] == cur and front not in hist
    assert all(lidar != s['lidar_points']['lidar_path'] for s in kept[toks[5]]['lidar_sweeps'])
