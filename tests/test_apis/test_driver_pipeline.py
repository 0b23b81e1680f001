# Copyright (c) mmautomot contributors. All rights reserved.
"""The Driver runs the config's test pipeline on in-memory observations: the same frame through the dataset
and through the Driver gives identical model inputs (incl. the UE's input_ids and pixel_values)."""

import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmautomot.apis import Driver, init_model
from mmautomot.datasets.transforms import load_rgb_image
from mmautomot.registry import DATASETS, MODELS
from mmautomot.structures.info_format import INFO_VERSION

CONFIGS = {
    'qwen3vl': 'projects/automot/configs/automot_tiny_1xb2-200i_nuscenes-e2e.py',
    'paligemma': 'projects/automot/configs/automot_paligemma-tiny_1xb2-200i_nuscenes-e2e.py',
    'released': 'projects/automot/configs/automot-released_tiny_1xb2-200i_nuscenes-e2e.py',
}
LIDAR2EGO = np.array([[0, 1, 0, 0.9], [-1, 0, 0, 0], [0, 0, 1, 1.8], [0, 0, 0, 1]], np.float32)  # lidar y forward


def _write_tiny_nuscenes(root: str, num_samples: int = 2) -> str:
    """``num_samples`` keyframes of one scene: noise JPEGs (36 x 64) for CAM_FRONT / CAM_BACK, a 50-point
    LiDAR cloud (x y z intensity ring), planning fields; returns the info pkl's name."""
    rng = np.random.default_rng(0)
    data_list = []
    for i in range(num_samples):
        images = {}
        for cam in ('CAM_FRONT', 'CAM_BACK'):
            rel = f'samples/{cam}/{i}.jpg'
            os.makedirs(osp.join(root, osp.dirname(rel)), exist_ok=True)
            cv2.imwrite(osp.join(root, rel), rng.integers(0, 256, (36, 64, 3), dtype=np.uint8))
            images[cam] = dict(
                img_path=rel, cam2img=np.diag([32.0, 32.0, 1.0]).astype(np.float32), cam2ego=np.eye(4, dtype=np.float32)
            )
        lidar = f'samples/LIDAR_TOP/{i}.pcd.bin'
        os.makedirs(osp.join(root, 'samples/LIDAR_TOP'), exist_ok=True)
        (rng.standard_normal((50, 5)) * 8).astype(np.float32).tofile(osp.join(root, lidar))
        data_list.append(
            dict(
                token=f'tok{i}',
                scene_token='scene0',
                timestamp=i * 0.5,
                ego2global=np.eye(4, dtype=np.float32),
                lidar_points=dict(lidar_path=lidar, num_pts_feats=5, lidar2ego=LIDAR2EGO),
                lidar_sweeps=[],
                images=images,
                cam_front_hist=[dict(img_path=f'samples/CAM_FRONT/{j}.jpg', timestamp=j * 0.5) for j in range(i + 1)],
                instances=[],
                ego_fut_trajs=np.stack([np.arange(1, 7) * 2.5, np.zeros(6)], 1).astype(np.float32),
                ego_fut_masks=np.ones(6, np.float32),
                ego_hist_trajs=np.stack([-np.arange(4, 0, -1) * 2.5, np.zeros(4)], 1).astype(np.float32),
                ego_status=np.array([5.0 + i, 0.1, 0.0, 0.02], np.float32),
                command=i % 3,
                target_point=np.array([15.0, 1.0], np.float32),
                meta_actions=np.full((3, 2), 2, np.int64),
                ego_path=np.stack([np.arange(1, 21), np.zeros(20)], 1).astype(np.float32),
                ego_path_masks=np.ones(20, np.float32),
                plan_agent_boxes=np.zeros((0, 7), np.float32),
                plan_agent_labels=np.zeros(0, np.int64),
                plan_agent_fut_trajs=np.zeros((0, 6, 2), np.float32),
                plan_agent_fut_yaws=np.zeros((0, 6), np.float32),
                plan_agent_fut_masks=np.zeros((0, 6), np.float32),
            )
        )
    metainfo = dict(
        dataset='nuscenes',
        version='v1.0-tiny-test',
        info_version=INFO_VERSION,
        categories={'car': 0},
        cam_names=['CAM_FRONT', 'CAM_BACK'],
        planning=dict(
            fut_steps=6, plan_dt=0.5, hist_steps=4, path_points=20, path_spacing=1.0, ue_hist_frames=4, ue_hist_dt=0.5
        ),
    )
    with open(osp.join(root, 'infos.pkl'), 'wb') as f:
        pickle.dump(dict(metainfo=metainfo, data_list=data_list), f)
    return 'infos.pkl'


def _observation(info: dict) -> dict:
    """The sample as a closed-loop observation: decoded camera frames (original size), the keyframe cloud in
    the ego frame with the file's columns, the ego state; the target point as the dataset feeds it (zeros:
    ``use_target_point=False`` on nuScenes)."""
    pts = np.fromfile(info['lidar_points']['lidar_path'], np.float32).reshape(-1, 5)
    ego = pts.copy()
    ego[:, :3] = pts[:, :3].astype(np.float64) @ LIDAR2EGO[:3, :3].T.astype(np.float64) + LIDAR2EGO[:3, 3]
    return dict(
        images={cam: load_rgb_image(c['img_path'], info['token'])[0] for cam, c in info['images'].items()},
        img_hist=[load_rgb_image(f['img_path'], info['token'])[0] for f in info['cam_front_hist']],
        points=ego,
        speed=float(info['ego_status'][0]),
        ego_status=info['ego_status'],
        ego_hist_trajs=info['ego_hist_trajs'],
        target_point=np.zeros(2, np.float32),
        command=info['command'],
    )


def _assert_equal(a, b, where=''):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            _assert_equal(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f'{where}[{i}]')
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('tiny_nus'))
    return root + '/', _write_tiny_nuscenes(root)


def _setup(family, data_root):
    cfg = Config.fromfile(CONFIGS[family])
    root, ann = data_root
    cfg.test_dataloader.dataset.update(data_root=root, ann_file=ann)
    torch.manual_seed(0)
    model = init_model(cfg)
    return model, DATASETS.build(cfg.test_dataloader.dataset)


@pytest.mark.parametrize('family', list(CONFIGS))
def test_same_frame_through_dataset_and_driver_gives_identical_inputs(family, data_root):
    model, dataset = _setup(family, data_root)
    driver = Driver(model)
    assert [type(t).__name__ for t in driver.pipeline][:3] == [
        'LoadFrontCamHistoryFromArray',
        'LoadMultiViewImagesFromArray',
        'LoadPointsFromArray',
    ]
    for idx in range(len(dataset)):
        ref = model.data_preprocessor([dataset[idx]])
        got = driver.prepare(_observation(dataset.get_data_info(idx)))
        assert 'vlm_inputs' in ref['inputs'] and ref['inputs']['points'][0].shape[1] == 5  # x y z intensity lag
        _assert_equal(ref['inputs'], got['inputs'], 'inputs')
        assert got['data_samples'][0].prompt == ref['data_samples'][0].prompt  # BuildPlanningTargets' template
        _assert_equal(model.ue_inputs(ref['inputs']), model.ue_inputs(got['inputs']), 'ue_inputs')
        with torch.no_grad():
            a, b = model.joint(ref['inputs'], ref['data_samples']), model.joint(got['inputs'], got['data_samples'])
        _assert_equal(a, b, 'joint')


def test_pipeline_inputs_equal_the_in_forward_fallback(data_root):
    """Without ProcessVLMInputs (old configs) the model tokenises in forward: the same UE batch."""
    model, dataset = _setup('qwen3vl', data_root)
    pipeline = [c for c in model.cfg.test_dataloader.dataset.pipeline if c['type'] != 'ProcessVLMInputs']
    obs = _observation(dataset.get_data_info(1))
    with_tf, without = Driver(model).prepare(obs), Driver(model, pipeline=pipeline).prepare(obs)
    assert 'vlm_inputs' in with_tf['inputs'] and 'vlm_inputs' not in without['inputs']
    _assert_equal(
        model.ue_inputs(with_tf['inputs']), model.ue_inputs(without['inputs'], without['data_samples']), 'ue_inputs'
    )


def test_bad_observations_and_pipelines_are_named(data_root):
    model, dataset = _setup('qwen3vl', data_root)
    driver = Driver(model)
    obs = _observation(dataset.get_data_info(0))
    with pytest.raises(KeyError, match=r"observation lacks 'command'"):
        driver.prepare({k: v for k, v in obs.items() if k != 'command'})
    with pytest.raises(KeyError, match=r"observation images lack cameras \['CAM_FRONT'\]"):
        driver.prepare(dict(obs, images={'CAM_BACK': obs['images']['CAM_BACK']}))
    with pytest.raises(ValueError, match=r"'points' has 3 columns, the pipeline uses columns \[0, 1, 2, 3\]"):
        driver.prepare(dict(obs, points=obs['points'][:, :3]))
    with pytest.raises(ValueError, match=r"images\['CAM_FRONT'\] must be an \(H, W, 3\) uint8"):
        driver.prepare(dict(obs, images={'CAM_FRONT': obs['images']['CAM_FRONT'].astype(np.float32)}))
    no_tf = [c for c in model.cfg.test_dataloader.dataset.pipeline if c['type'] != 'ProcessVLMInputs']
    model.require_vlm_inputs = True
    try:
        with pytest.raises(ValueError, match='requires the pipeline.s UE inputs .* no ProcessVLMInputs'):
            Driver(model, pipeline=no_tf)
        batch = model.data_preprocessor([dataset.pipeline.transforms[-1](dict(dataset.get_data_info(0)))])
        with pytest.raises(KeyError, match=r"lack 'vlm_inputs' \(require_vlm_inputs=True.*ProcessVLMInputs"):
            model.ue_inputs(batch['inputs'])
    finally:
        model.require_vlm_inputs = False


def test_model_without_config_uses_the_default_pipeline(data_root):
    """A model built in code (no ``cfg``): frames and points as given, the prompt left to the model."""
    model, dataset = _setup('qwen3vl', data_root)
    bare = MODELS.build(model.cfg.model)
    obs = _observation(dataset.get_data_info(1))
    got = Driver(bare).prepare(obs)['inputs']
    assert got['imgs'].shape == (1, 2, 3, 36, 64) and got['img_hist'].shape == (1, 2, 3, 36, 64)
    assert got['points'][0].shape == (50, 5) and 'vlm_inputs' not in got
    assert torch.equal(got['points'][0], torch.from_numpy(obs['points']))


# ---------------------------------------------------------------- Drive-pi0 / DriveMoE (ProcessVLAPrefixInputs)
VLA_CONFIGS = {
    'drive-pi0': (
        'projects/drivemoe/configs/drive-pi0_tiny_1xb4-300i_nuscenes-synthetic.py',
        dict(extra_views=[1]),
        'extra',
    ),
    'drivemoe': (
        'projects/drivemoe/configs/drivemoe_tiny_1xb4-300i_nuscenes-synthetic.py',
        dict(candidate_views=[0, 1]),
        'routed',
    ),
}


def _setup_vla(name, data_root):
    """The tiny config on the two-camera test data: CAM_FRONT and CAM_BACK as the views, Drive-pi0 with the back
    view as a fixed extra view, DriveMoE routing between both (the pipeline's views follow the model's)."""
    import projects.drivemoe.drivemoe  # noqa: F401

    path, model_over, kind = VLA_CONFIGS[name]
    cfg = Config.fromfile(path)
    cfg.model.update(model_over)
    root, ann = data_root
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'LoadMultiViewImages':
            t['cam_names'] = ['CAM_FRONT', 'CAM_BACK']
        if t['type'] == 'ProcessVLAPrefixInputs':
            t['extra_views' if kind == 'extra' else 'routed_views'] = list(model_over.values())[0]
    cfg.test_dataloader.dataset.update(data_root=root, ann_file=ann)
    torch.manual_seed(0)
    return init_model(cfg), DATASETS.build(cfg.test_dataloader.dataset)


def _vla_out(model, data, seed=0):
    """Prefix batch (tensors) and sampled waypoints with fixed noise, eval mode."""
    with torch.no_grad():
        batch = model.ue_batch(data['inputs'], data['data_samples'])
        noise = torch.randn(
            len(data['data_samples']), model.head.horizon, 2, generator=torch.Generator().manual_seed(seed)
        )
        out = model.sample_actions(data['inputs'], data['data_samples'], noise=noise)
    batch.pop('pixel_values', None)  # the fallback's placeholders (token layout only); the features are compared
    return batch, out['waypoints']


@pytest.mark.parametrize('name', list(VLA_CONFIGS))
def test_vla_same_frame_through_dataset_and_driver_gives_identical_inputs(name, data_root):
    model, dataset = _setup_vla(name, data_root)
    driver = Driver(model)
    assert type(driver.pipeline[-2]).__name__ == 'ProcessVLAPrefixInputs'
    for idx in range(len(dataset)):
        ref = model.data_preprocessor([dataset[idx]])
        got = driver.prepare(_observation(dataset.get_data_info(idx)))
        assert 'view_pixel_values' in ref['inputs']['vlm_inputs'][0] if name == 'drivemoe' else True
        _assert_equal(ref['inputs'], got['inputs'], 'inputs')
        (a, wa), (b, wb) = _vla_out(model, ref), _vla_out(model, got)
        _assert_equal(a, b, 'ue_batch')
        assert torch.equal(wa, wb)


@pytest.mark.parametrize('name', list(VLA_CONFIGS))
def test_vla_pipeline_inputs_equal_the_in_forward_path(name, data_root):
    """A batch of two through the pipeline (tokens and image patches in the transform) and the same batch
    without it (the model processes img_hist / imgs in forward): identical prefix, features, router picks,
    waypoints, and (training mode, same seed) losses and gradients."""
    model, dataset = _setup_vla(name, data_root)
    samples = [dataset[i] for i in range(len(dataset))]
    no_tf = [t for t in dataset.pipeline.transforms if type(t).__name__ != 'ProcessVLAPrefixInputs']
    plain = []
    for i in range(len(dataset)):
        r = dataset.get_data_info(i)
        for t in no_tf:
            r = t(r)
        plain.append(r)
    with_tf, without = model.data_preprocessor(samples), model.data_preprocessor(plain)
    assert 'vlm_inputs' in with_tf['inputs'] and 'vlm_inputs' not in without['inputs']
    (a, wa), (b, wb) = _vla_out(model, with_tf), _vla_out(model, without)
    _assert_equal(a, b, 'ue_batch')
    assert torch.equal(wa, wb)
    model.train()
    losses = []
    for data in (with_tf, without):
        model.zero_grad()
        torch.manual_seed(3)
        loss = model.loss(data['inputs'], data['data_samples'])
        sum(loss.values()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        losses.append(({k: v.detach() for k, v in loss.items()}, grads))
    model.eval()
    _assert_equal(losses[0][0], losses[1][0], 'losses')
    assert sorted(losses[0][1]) == sorted(losses[1][1]) and losses[0][1]
    for n in losses[0][1]:
        assert torch.equal(losses[0][1][n], losses[1][1][n]), n


def test_vla_pipeline_views_must_match_the_model(data_root):
    model, dataset = _setup_vla('drivemoe', data_root)
    pipeline = [dict(c) for c in model.cfg.test_dataloader.dataset.pipeline]
    for c in pipeline:
        if c['type'] == 'ProcessVLAPrefixInputs':
            c['routed_views'] = [1]
    data = Driver(model, pipeline=pipeline).prepare(_observation(dataset.get_data_info(0)))
    with pytest.raises(ValueError, match=r'3 prefix images and 1 routed views per sample; the model expects 3 and 2'):
        model.ue_batch(data['inputs'], data['data_samples'])
    with pytest.raises(IndexError, match=r"views \[5\] out of range for 'imgs' of 2 cameras"):
        for c in pipeline:
            if c['type'] == 'ProcessVLAPrefixInputs':
                c['routed_views'] = [0, 5]
        Driver(model, pipeline=pipeline).prepare(_observation(dataset.get_data_info(0)))


# ---------------------------------------------------------------- SAMoE-VLA (TokenizeInstruction)
SAMOE_CFG = 'projects/samoe/configs/samoe_tiny_1xb4-1200i_nuscenes-synthetic.py'


def _setup_samoe(data_root):
    import projects.samoe.samoe  # noqa: F401

    cfg = Config.fromfile(SAMOE_CFG)
    root, ann = data_root
    cfg.test_dataloader.dataset.update(data_root=root, ann_file=ann)
    torch.manual_seed(0)
    return init_model(cfg), DATASETS.build(cfg.test_dataloader.dataset)


def _samoe_out(model, data, seed=0):
    with torch.no_grad():
        world = model.encode_scene(data['inputs'], data['data_samples'])
        noise = torch.randn(
            len(data['data_samples']), model.head.horizon, 2, generator=torch.Generator().manual_seed(seed)
        )
        out = model.sample_actions(data['inputs'], data['data_samples'], noise=noise)
    return world, out['waypoints']


def test_samoe_same_frame_through_dataset_and_driver_gives_identical_inputs(data_root):
    model, dataset = _setup_samoe(data_root)
    driver = Driver(model)
    assert type(driver.pipeline[-2]).__name__ == 'TokenizeInstruction'
    for idx in range(len(dataset)):
        ref = model.data_preprocessor([dataset[idx]])
        got = driver.prepare(_observation(dataset.get_data_info(idx)))
        assert 'vlm_inputs' in ref['inputs']
        _assert_equal(ref['inputs'], got['inputs'], 'inputs')
        (a, wa), (b, wb) = _samoe_out(model, ref), _samoe_out(model, got)
        _assert_equal(a, b, 'world')
        assert torch.equal(wa, wb)


def test_samoe_pipeline_tokens_equal_the_in_forward_path(data_root):
    """Two samples, one with a free-text instruction longer than max_instruction_tokens (truncated) and one
    without (the command's sentence): the pipeline's tokens give the in-forward path's world sequence,
    waypoints, and (training, same seed) losses and gradients."""
    model, dataset = _setup_samoe(data_root)
    model.world.max_instruction_tokens = 20
    infos = [dict(dataset.get_data_info(0), instruction='Overtake the parked truck, then merge back ' * 2)]
    infos.append(dataset.get_data_info(1))
    no_tf = [t for t in dataset.pipeline.transforms if type(t).__name__ != 'TokenizeInstruction']

    def run(transforms, info):
        for t in transforms:
            info = t(info)
        return info

    with_tf = model.data_preprocessor([run(dataset.pipeline.transforms, dict(i)) for i in infos])
    without = model.data_preprocessor([run(no_tf, dict(i)) for i in infos])
    assert 'vlm_inputs' in with_tf['inputs'] and 'vlm_inputs' not in without['inputs']
    assert with_tf['inputs']['vlm_inputs'][0]['input_ids'].shape[1] > 20  # untruncated in the pipeline
    (a, wa), (b, wb) = _samoe_out(model, with_tf), _samoe_out(model, without)
    _assert_equal(a, b, 'world')
    assert a['valid'].shape[1] == model.world.num_bev_tokens + model.world.soft_prompts.shape[0] + 20
    assert torch.equal(wa, wb)
    model.train()
    runs = []
    for data in (with_tf, without):
        model.zero_grad()
        torch.manual_seed(3)
        loss = model.loss(data['inputs'], data['data_samples'])
        sum(loss.values()).backward()
        runs.append(
            (
                {k: v.detach() for k, v in loss.items()},
                {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
            )
        )
    model.eval()
    _assert_equal(runs[0][0], runs[1][0], 'losses')
    assert sorted(runs[0][1]) == sorted(runs[1][1]) and runs[0][1]
    for n in runs[0][1]:
        assert torch.equal(runs[0][1][n], runs[1][1][n]), n
