# Copyright (c) mmautomot contributors. All rights reserved.
"""mmdet3d's own ``NuScenesDataset`` reads the info pkls of ``tools/create_data.py`` (gravity-centre boxes)."""

import importlib.util
import os.path as osp

import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


@pytest.fixture(scope='module')
def train_pkl(synth_root, tmp_path_factory):
    spec = importlib.util.spec_from_file_location('create_data_tool_mmdet3d', osp.join(REPO, 'tools', 'create_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path_factory.mktemp('mmdet3d_infos')
    assert (
        tool.main(
            [
                'nuscenes',
                '--root-path',
                str(synth_root),
                '--out-dir',
                str(out),
                '--version',
                'v1.0-mini',
                '--max-sweeps',
                '1',
            ]
        )
        == 0
    )
    return str(out / 'nuscenes_infos_train.pkl')


def test_mmdet3d_nuscenes_dataset_reads_our_boxes(synth_root, train_pkl):
    from mmdet3d.datasets import NuScenesDataset
    from mmengine.fileio import load
    from mmengine.registry import DefaultScope

    from mmautomot.datasets.converters import MMDET3D_NUS_CLASSES, NUS_CLASSES

    assert MMDET3D_NUS_CLASSES == tuple(NuScenesDataset.METAINFO['classes'])
    ours = load(train_pkl)
    assert ours['metainfo']['info_version'] == '1.1'
    assert ours['metainfo']['instance_categories'] == {c: i for i, c in enumerate(MMDET3D_NUS_CLASSES)}
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        ds = NuScenesDataset(
            data_root=str(synth_root),
            ann_file=train_pkl,
            pipeline=[],
            data_prefix=dict(pts='', img='', sweeps=''),
            modality=dict(use_lidar=True, use_camera=False),
            box_type_3d='LiDAR',
            filter_empty_gt=False,
            test_mode=False,
        )
    assert len(ds) == len(ours['data_list'])
    checked = 0
    for idx, info in enumerate(ours['data_list']):
        data = ds.get_data_info(idx)
        assert data['token'] == info['token']
        keep = [i for i, ins in enumerate(info['instances']) if ins['num_lidar_pts'] > 0]  # mmdet3d's filter
        boxes = data['ann_info']['gt_bboxes_3d']
        assert len(boxes) == len(keep)
        if not keep:
            continue
        mine = np.array([info['instances'][i]['bbox_3d'] for i in keep])
        # LiDARInstance3DBoxes keeps the bottom centre; its gravity centre is our bbox_3d centre
        np.testing.assert_allclose(boxes.gravity_center.numpy(), mine[:, :3], atol=1e-4)
        np.testing.assert_allclose(boxes.bottom_center.numpy()[:, 2], mine[:, 2] - mine[:, 5] / 2, atol=1e-4)
        np.testing.assert_allclose(boxes.dims.numpy(), mine[:, 3:6], atol=1e-5)
        np.testing.assert_allclose(boxes.yaw.numpy(), mine[:, 6], atol=1e-5)
        np.testing.assert_allclose(
            boxes.tensor[:, 7:9].numpy(), [info['instances'][i]['velocity'] for i in keep], atol=1e-5
        )
        # mmdet3d's class names of its labels are the planning labels' names (two id orders, one class)
        names = [ds.metainfo['classes'][k] for k in data['ann_info']['gt_labels_3d'].tolist()]
        assert names == [NUS_CLASSES[k] for k in info['plan_agent_labels'][keep]]
        # the same boxes in the ego frame are the planning metric's agent boxes (x, y, z_center, l, w, h, yaw)
        l2e = np.asarray(info['lidar_points']['lidar2ego'], np.float64)
        centre_ego = boxes.gravity_center.numpy() @ l2e[:3, :3].T + l2e[:3, 3]
        np.testing.assert_allclose(centre_ego, info['plan_agent_boxes'][keep, :3], atol=1e-3)
        corners_ego = boxes.corners.numpy() @ l2e[:3, :3].T + l2e[:3, 3]
        np.testing.assert_allclose(
            corners_ego[..., 2].min(1),
            info['plan_agent_boxes'][keep, 2] - info['plan_agent_boxes'][keep, 5] / 2,
            atol=0.05,
        )  # LIDAR_TOP is ~level
        checked += len(keep)
    assert checked > 5
