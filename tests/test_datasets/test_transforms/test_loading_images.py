# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest

from mmautomot.datasets.transforms import LoadFrontCamHistory, LoadMultiViewImages


def test_multi_view_resize_and_intrinsics(tiny_e2e_infos):
    out = LoadMultiViewImages(cam_names=['CAM_BACK', 'CAM_FRONT'], img_size=(32, 18))(tiny_e2e_infos[1])
    imgs = out['imgs']
    assert imgs.shape == (2, 18, 32, 3) and imgs.dtype == np.uint8
    # files hold BGR (10, 20, 40) / (10, 20, 30); loaded as RGB
    np.testing.assert_allclose(imgs[0].reshape(-1, 3).mean(0), [40, 20, 10], atol=3)
    np.testing.assert_allclose(imgs[1].reshape(-1, 3).mean(0), [30, 20, 10], atol=3)
    assert out['cam_names'] == ['CAM_BACK', 'CAM_FRONT']
    assert out['img_shape'] == (18, 32) and out['ori_img_shape'] == (36, 64)
    np.testing.assert_allclose(out['cam_intrinsics'][0], [[16, 0, 16], [0, 16, 9], [0, 0, 1]])
    assert out['cam2ego'].shape == (2, 4, 4)
    # no resize: intrinsics unchanged, all cameras in stored order
    full = LoadMultiViewImages()(tiny_e2e_infos[1])
    assert full['imgs'].shape == (2, 36, 64, 3) and full['cam_names'] == ['CAM_FRONT', 'CAM_BACK']
    np.testing.assert_allclose(full['cam_intrinsics'][0], [[32, 0, 32], [0, 32, 18], [0, 0, 1]])
    with pytest.raises(KeyError, match=r"'tok1'.*\['CAM_LEFT'\]"):
        LoadMultiViewImages(cam_names=['CAM_LEFT'])(tiny_e2e_infos[1])


def test_front_history_padding_and_order(tiny_e2e_infos):
    first = LoadFrontCamHistory(num_frames=3, img_size=(16, 8))(tiny_e2e_infos[0])
    assert first['img_hist'].shape == (3, 8, 16, 3) and first['img_hist'].dtype == np.uint8
    np.testing.assert_allclose(first['img_hist_timestamps'], [0, 0, 0])  # scene start repeats
    last = LoadFrontCamHistory(num_frames=2, img_size=(16, 8))(tiny_e2e_infos[2])
    np.testing.assert_allclose(last['img_hist_timestamps'], [0.5, 1.0])  # newest last
    blue = last['img_hist'][..., 2].reshape(2, -1).mean(1)
    np.testing.assert_allclose(blue, [10, 20], atol=3)
    keep_all = LoadFrontCamHistory(num_frames=None, img_size=None)(tiny_e2e_infos[2])
    assert keep_all['img_hist'].shape == (3, 36, 64, 3)


def test_missing_and_corrupt_images_name_token_and_file(tiny_e2e_infos, tmp_path):
    info = tiny_e2e_infos[0]
    missing = dict(info, images=dict(info['images']))
    missing['images']['CAM_FRONT'] = dict(info['images']['CAM_FRONT'], img_path='/no/such.jpg')
    with pytest.raises(FileNotFoundError, match=r"'tok0'.*'/no/such\.jpg' not found"):
        LoadMultiViewImages(cam_names=['CAM_FRONT'])(missing)
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'\xff\xd8\xff\xe0 definitely not a jpeg')
    corrupt = dict(info, cam_front_hist=[dict(img_path=str(bad), timestamp=0.0)])
    with pytest.raises(ValueError, match=r"'tok0'.*bad\.jpg.*corrupt"):
        LoadFrontCamHistory(num_frames=1, img_size=(16, 8))(corrupt)
    with pytest.raises(KeyError, match=r"'tok0'.*cam_front_hist"):
        LoadFrontCamHistory()(dict(info, cam_front_hist=[]))
