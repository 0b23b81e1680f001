# Copyright (c) mmautomot contributors. All rights reserved.
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmautomot.datasets import NuScenesE2EDataset
from mmautomot.registry import DATASETS
from mmautomot.structures import INFO_VERSION, PLANNING_LAYOUT, DrivingDataSample, InfoFormatError
from mmautomot.utils.safe_pickle import UnsafePickleError


def test_load_and_parse(tiny_e2e_root):
    root, ann = tiny_e2e_root
    ds = NuScenesE2EDataset(ann_file=ann, data_root=root)
    assert len(ds) == 3
    assert ds.metainfo['dataset'] == 'nuscenes'
    assert ds.metainfo['cam_names'] == ['CAM_FRONT', 'CAM_BACK']  # pkl metainfo wins over default
    assert ds.metainfo['planning']['fut_steps'] == 6
    info = ds.get_data_info(1)
    assert info['token'] == 'tok1'
    assert info['lidar_points']['lidar_path'] == osp.join(root, 'samples/LIDAR_TOP/1.pcd.bin')
    assert info['lidar_sweeps'][0]['lidar_points']['lidar_path'] == osp.join(root, 'samples/LIDAR_TOP/0.pcd.bin')
    assert info['images']['CAM_BACK']['img_path'] == osp.join(root, 'samples/CAM_BACK/1.jpg')
    assert [f['img_path'] for f in info['cam_front_hist']] == [
        osp.join(root, 'samples/CAM_FRONT/0.jpg'),
        osp.join(root, 'samples/CAM_FRONT/1.jpg'),
    ]
    assert all(osp.isfile(f['img_path']) for f in info['cam_front_hist'])
    # planning fields are kept untouched, dataset-level meta is added
    np.testing.assert_allclose(info['ego_fut_trajs'][:, 0], [5, 10, 15, 20, 25, 30])
    assert info['plan_dt'] == 0.5 and info['path_spacing'] == 1.0 and info['dataset'] == 'nuscenes'
    assert info['plan_agent_boxes'].shape == (0, 7)


def test_filter_invalid_future(tiny_e2e_root):
    root, ann = tiny_e2e_root
    assert len(NuScenesE2EDataset(ann_file=ann, data_root=root, filter_invalid_future=False)) == 3
    ds = NuScenesE2EDataset(ann_file=ann, data_root=root, filter_invalid_future=True)
    assert [ds.get_data_info(i)['token'] for i in range(len(ds))] == ['tok0', 'tok1']


def test_missing_and_malformed_ann_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.pkl.*does not exist.*create_data'):
        NuScenesE2EDataset(ann_file='nope.pkl', data_root=str(tmp_path))
    bad = tmp_path / 'bad.pkl'
    with open(bad, 'wb') as f:
        pickle.dump(dict(data_list=[]), f)
    with pytest.raises(KeyError, match=r"bad\.pkl.*lacks \['metainfo'\]"):
        NuScenesE2EDataset(ann_file=str(bad))
    with open(bad, 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(TypeError, match=r'bad\.pkl.*must hold a dict'):
        NuScenesE2EDataset(ann_file=str(bad))
    with open(bad, 'wb') as f:
        pickle.dump(
            dict(
                metainfo=dict(info_version=INFO_VERSION, planning=PLANNING_LAYOUT),
                data_list=[dict(token='t9', timestamp=0.0)],
            ),
            f,
        )
    with pytest.raises(KeyError, match=r"'t9'.*lacks planning keys \['ego_fut_trajs'"):
        NuScenesE2EDataset(ann_file=str(bad))


class _RunsCode:
    def __reduce__(self):
        return os.system, ('echo pwned',)


def test_info_pkl_is_read_without_running_code(tiny_e2e_root, tmp_path):
    """A crafted info pkl is refused naming the file and the class; plain infos (numpy arrays,
    dtypes, scalars, protocol 2 as mmengine.dump writes) stay readable."""
    root, ann = tiny_e2e_root
    with open(osp.join(root, ann), 'rb') as f:
        data = pickle.load(f)
    data['data_list'][0]['evil'] = _RunsCode()
    bad = tmp_path / 'evil.pkl'
    bad.write_bytes(pickle.dumps(data))
    with pytest.raises(UnsafePickleError, match=r"'posix\.system' from '.*evil\.pkl'"):
        NuScenesE2EDataset(ann_file=str(bad), data_root=root)
    data['data_list'][0].pop('evil')
    data['data_list'][0]['extra'] = [np.float64(2.5), np.int64(3), np.dtype('float16'), {'a': (1, 2)}]
    for protocol in (2, 5):
        ok = tmp_path / f'ok{protocol}.pkl'
        ok.write_bytes(pickle.dumps(data, protocol=protocol))
        ds = NuScenesE2EDataset(ann_file=str(ok), data_root=root)
        info = ds.get_data_info(0)
        assert info['extra'] == data['data_list'][0]['extra']
        np.testing.assert_array_equal(info['ego_fut_trajs'], data['data_list'][0]['ego_fut_trajs'])


@pytest.mark.parametrize(
    'meta, expected',
    [
        (dict(info_version='0.9'), r"info_version '0\.9' found in metainfo, expected '1\.1'"),
        (dict(info_version=None), r"info_version None found in metainfo, expected '1\.1'"),
        (dict(planning=dict(fut_steps=6)), r"metainfo\.planning lacks \['hist_steps'"),
    ],
)
def test_info_pkl_of_another_version_fails(tiny_e2e_root, tmp_path, meta, expected):
    root, ann = tiny_e2e_root
    with open(osp.join(root, ann), 'rb') as f:
        data = pickle.load(f)
    data['metainfo'].update(meta)
    bad = tmp_path / 'old.pkl'
    bad.write_bytes(pickle.dumps(data))
    with pytest.raises(InfoFormatError, match=r'old\.pkl.*' + expected):
        NuScenesE2EDataset(ann_file=str(bad), data_root=root)


def test_lazy_init(tiny_e2e_root):
    root, ann = tiny_e2e_root
    ds = NuScenesE2EDataset(ann_file=ann, data_root=root, lazy_init=True)
    assert not ds._fully_initialized
    assert len(ds) == 3


def test_full_pipeline_from_registry(tiny_e2e_root):
    init_default_scope('mmautomot')
    root, ann = tiny_e2e_root
    ds = DATASETS.build(
        dict(
            type='NuScenesE2EDataset',
            ann_file=ann,
            data_root=root,
            test_mode=True,
            pipeline=[
                dict(type='LoadFrontCamHistory', num_frames=3, img_size=(32, 16)),
                dict(type='LoadMultiViewImages', cam_names=['CAM_FRONT'], img_size=(32, 18)),
                dict(type='LoadPointsInEgoFrame', sweeps_num=2),
                dict(type='BuildPlanningTargets'),
                dict(type='PackDrivingInputs'),
            ],
        )
    )
    out = ds[2]
    inputs, sample = out['inputs'], out['data_samples']
    assert isinstance(sample, DrivingDataSample)
    assert inputs['img_hist'].shape == (3, 3, 16, 32) and inputs['img_hist'].dtype == torch.uint8
    assert inputs['imgs'].shape == (1, 3, 18, 32)
    assert inputs['points'].shape == (6, 5)  # 2 points x (keyframe + 2 sweeps), + time lag
    assert inputs['command'].dtype == torch.int64 and int(inputs['command']) == 2
    assert sample.token == 'tok2' and sample.sample_idx == 2
    assert sample.gt_ego_fut_masks.tolist() == [1, 1, 0, 0, 0, 0]
    assert 'go straight' in sample.prompt


def test_tiny_config_pipeline_through_preprocessor(tiny_e2e_root):
    """configs/_base_/datasets/nuscenes_e2e_tiny.py + DrivingDataPreprocessor on the tiny data."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from mmautomot.registry import MODELS

    init_default_scope('mmautomot')
    cfg_file = osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets', 'nuscenes_e2e_tiny.py')
    cfg = Config.fromfile(cfg_file)
    root, ann = tiny_e2e_root
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.update(data_root=root, ann_file=ann)
    ds = DATASETS.build(ds_cfg)
    batch = pseudo_collate([ds[0], ds[2]])
    out = MODELS.build(dict(type='DrivingDataPreprocessor'))(batch)
    inputs = out['inputs']
    assert inputs['imgs'].shape == (2, 2, 3, 32, 64) and inputs['imgs'].dtype == torch.float32
    assert inputs['img_hist'].shape == (2, 2, 3, 32, 64) and inputs['img_hist'].dtype == torch.uint8
    assert [p.shape[1] for p in inputs['points']] == [5, 5]
    assert inputs['points'][1].shape[0] == 4  # keyframe + 1 sweep, 2 points each
    assert inputs['ego_status'].shape == (2, 4) and inputs['command'].tolist() == [2, 2]
    assert [s.token for s in out['data_samples']] == ['tok0', 'tok2']
