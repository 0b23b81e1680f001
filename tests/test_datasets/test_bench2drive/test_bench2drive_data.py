# Copyright (c) mmautomot contributors. All rights reserved.
import pickle

import numpy as np
import pytest

from mmautomot.datasets.bench2drive import (
    Bench2DriveE2EDataset,
    LoadCarlaPoints,
    create_bench2drive_infos,
    load_carla_points,
)
from mmautomot.datasets.bench2drive.converter import route_infos
from mmautomot.datasets.bench2drive.synthetic import make_synthetic_routes


@pytest.fixture(scope='module')
def b2d(tmp_path_factory):
    root = tmp_path_factory.mktemp('b2d')
    names = make_synthetic_routes(str(root), num_routes=2, seed=1, num_frames=45)
    return root, names


def test_labels_b2d(b2d):
    root, names = b2d
    infos = route_infos(str(root), names[0], 'bench2drive', fps=10.0)
    assert len(infos) == 45
    first = infos[0]
    # straight at 5 m/s until the turn at 2.2 s: waypoints every 0.5 s are 2.5 m apart along +x
    np.testing.assert_allclose(first['ego_fut_trajs'][:4], np.stack([np.arange(1, 5) * 2.5, np.zeros(4)], 1), atol=1e-4)
    assert first['ego_fut_trajs'][5, 1] > 0.1  # then bends left
    np.testing.assert_allclose(first['ego_path'][:11, 0], np.arange(1, 12), atol=1e-4)
    assert first['ego_path_masks'].all() and first['command'] == 3  # LANEFOLLOW -> lane_follow
    np.testing.assert_allclose(first['target_point'], [10.0, 0.0], atol=1e-4)  # 2 s ahead
    np.testing.assert_allclose(first['ego_status'], [5.0, 0, 0, 0], atol=1e-4)
    # agents: car 12 m ahead, 3.5 m left, moving at 4 m/s
    np.testing.assert_allclose(first['plan_agent_boxes'][0], [12, 3.5, 0.75, 4.4, 1.9, 1.5, 0], atol=1e-4)
    np.testing.assert_allclose(first['plan_agent_fut_trajs'][0, :, 0], 12 + 2 * np.arange(1, 7), atol=1e-4)
    assert list(first['plan_agent_labels']) == [0, 0, 8]
    # late in the turn (left, yaw rate 0.25 rad/s): future bends to +y, command turn_left, masks at the end
    late = infos[40]
    assert late['command'] == 0 and late['ego_path'][1, 1] > 0 and late['ego_path_masks'][2] == 0
    np.testing.assert_array_equal(late['ego_fut_masks'], [0, 0, 0, 0, 0, 0])
    assert late['ego_status'][3] == pytest.approx(0.25, abs=1e-3)
    mid = infos[25]
    assert mid['ego_fut_masks'].sum() == 3 and mid['meta_actions'][0, 0] in (0, 1)  # (slight) left
    assert len(mid['cam_front_hist']) == 4 and mid['cam_front_hist'][-1]['img_path'].endswith('00025.jpg')
    assert mid['cam_front_hist'][0]['img_path'].endswith('00010.jpg')
    assert first['images']['CAM_FRONT']['cam2img'][0, 2] == pytest.approx(80.0)  # 160 px wide


def test_lidar_lands_on_agents(b2d):
    root, names = b2d
    info = route_infos(str(root), names[0], 'bench2drive', fps=10.0)[0]
    res = LoadCarlaPoints()(
        dict(
            lidar_points=dict(info['lidar_points'], lidar_path=str(root / info['lidar_points']['lidar_path'])),
            token=info['token'],
        )
    )
    pts = res['points']
    assert pts.shape[1] == 4 and pts.dtype == np.float32
    near_car = np.abs(pts[:, 0] - 12) < 2.3
    near_car &= np.abs(pts[:, 1] - 3.5) < 1.0
    assert near_car.sum() >= 90  # the 100 points sampled on the car ahead-left
    ground = pts[np.abs(pts[:, 2]) < 1e-3]
    assert len(ground) > 1000  # the ground ring sits at z = 0 in the ego frame


def test_converter_and_dataset(b2d, tmp_path):
    root, names = b2d
    paths = create_bench2drive_infos(str(root), str(tmp_path), val_routes=[names[1]])
    train = pickle.load(open(paths['train'], 'rb'))
    assert train['metainfo']['dataset'] == 'bench2drive' and len(train['data_list']) == 45
    assert train['metainfo']['planning']['path_points'] == 20
    ds = Bench2DriveE2EDataset(ann_file=paths['val'], data_root=str(root))
    assert len(ds) == 45
    item = ds.get_data_info(3)
    assert item['images']['CAM_BACK']['img_path'].startswith(str(root))
    assert item['plan_dt'] == 0.5 and item['instances'][0]['bbox_label_3d'] == 0
    # instances hold the LiDAR-frame gravity centre (mmdet3d's nuScenes convention) of the ego-frame boxes
    info = train['data_list'][3]
    assert train['metainfo']['info_version'] == '1.1' and len(info['instances']) > 0
    l2e = np.asarray(info['lidar_points']['lidar2ego'], np.float64)
    for ins, box in zip(info['instances'], info['plan_agent_boxes']):
        np.testing.assert_allclose(l2e[:3, :3] @ np.asarray(ins['bbox_3d'][:3]) + l2e[:3, 3], box[:3], atol=1e-4)


def test_pdm_lite_layout(tmp_path):
    names = make_synthetic_routes(str(tmp_path), num_routes=1, seed=2, layout='pdm_lite')
    infos = route_infos(str(tmp_path), names[0], 'pdm_lite', fps=4.0)
    first = infos[0]
    np.testing.assert_allclose(first['ego_fut_trajs'][:, 0], np.arange(1, 7) * 2.5, atol=1e-4)
    np.testing.assert_allclose(first['target_point'], [10.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(first['plan_agent_boxes'][0, :2], [12.0, 3.5], atol=1e-4)
    assert list(first['images']) == ['CAM_FRONT'] and first['lidar_points']['lidar_path'].endswith('.npy')


def test_point_formats_and_errors(tmp_path):
    pts = np.arange(12, dtype=np.float32).reshape(3, 4)
    pts.tofile(tmp_path / 'a.bin')
    np.testing.assert_array_equal(load_carla_points(str(tmp_path / 'a.bin')), pts)
    np.save(tmp_path / 'b.npy', pts[:, :3])
    assert load_carla_points(str(tmp_path / 'b.npy')).shape == (3, 4)
    (tmp_path / 'c.laz').write_bytes(b'LASF')
    try:
        import laspy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r'laspy\[lazrs\]'):
            load_carla_points(str(tmp_path / 'c.laz'))
    with pytest.raises(FileNotFoundError, match='sample .tok.'):
        LoadCarlaPoints()(dict(lidar_points=dict(lidar_path=str(tmp_path / 'x.npy'), lidar2ego=np.eye(4)), token='tok'))
