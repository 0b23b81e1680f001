# Copyright (c) mmautomot contributors. All rights reserved.
"""AutoMoT+ (AutoMoT with the DiTMoARefiner): config, loss, predict, refiner_tick, Driver, latency tool."""

import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmautomot.registry import MODELS
from mmautomot.testing import demo_driving_batch as _batch

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
PLUS = osp.join(ROOT, 'projects', 'automot', 'configs', 'automot-plus_tiny_1xb2-200i_nuscenes-e2e.py')


def _model_cfg(**overrides):
    import projects.automot.automot  # noqa: F401

    model = Config.fromfile(PLUS).model.to_dict()
    model.pop('data_preprocessor', None)
    model['mot']['ue']['image_size'] = (32, 64)  # test speed
    model['bev_encoder']['bev'] = dict(x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
    model.update(overrides)
    return model


@pytest.fixture(scope='module')
def plus():
    torch.manual_seed(0)
    return MODELS.build(_model_cfg())


def test_config_builds_with_refiner(plus):
    cfg = Config.fromfile(PLUS)
    assert cfg.model.type == 'AutoMoT' and cfg.model.refiner.type == 'DiTMoARefiner'
    assert cfg.model.mot.ae.hidden_size == 48  # inherited from the tiny AutoMoT config
    ref = plus.refiner
    assert ref.cond_sources == dict(decision=48, route=48, waypoint=48) and ref.num_waypoints == 6
    assert ref.diffusion.inference_timesteps() == [50, 25]
    counts = plus.count_params()
    assert counts['refiner_params'] == sum(p.numel() for p in ref.parameters()) > 0
    assert counts['ue_params'] + counts['ae_params'] + counts['other_params'] == counts['total_params']
    with pytest.raises(KeyError, match=r"refiner cond_sources \['lidar'\] are not AE token groups"):
        MODELS.build(
            _model_cfg(
                refiner=dict(type='DiTMoARefiner', cond_sources=['decision', 'lidar'], hidden_size=16, num_heads=2)
            )
        )


def test_loss_detaches_proposal_and_trains_one_step(plus):
    model = plus.train()
    inputs, samples = _batch()
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_meta_lat', 'loss_meta_lon', 'loss_path', 'loss_traj', 'loss_refine'}
    model.zero_grad()
    losses['loss_refine'].backward()
    # detached proposal: the refiner loss does not reach the waypoint head
    assert all(p.grad is None or not p.grad.any() for p in model.traj_head.parameters())
    assert model.refiner.out_proj.weight.grad.abs().sum() > 0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    before = model.refiner.out_proj.weight.detach().clone()
    for _ in range(3):  # adaLN-Zero: the condition path opens after the zero-initialised layers move
        model.zero_grad()
        sum(model(inputs, samples, mode='loss').values()).backward()
        opt.step()
    assert not torch.equal(before, model.refiner.out_proj.weight)
    model.zero_grad()
    model(inputs, samples, mode='loss')['loss_refine'].backward()
    assert any(p.grad is not None and p.grad.any() for p in model.mot.ae_layers.parameters())  # via the tokens
    assert all(p.grad is None or not p.grad.any() for p in model.traj_head.parameters())
    model.zero_grad()


def test_loss_without_detach_reaches_waypoint_head():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(refiner_detach_proposal=False)).train()
    inputs, samples = _batch()
    model(inputs, samples, mode='loss')['loss_refine'].backward()
    assert any(p.grad is not None and p.grad.any() for p in model.traj_head.parameters())


def test_predict_and_refiner_tick_match(plus):
    model = plus.eval()
    inputs, samples = _batch(seed=1)
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
        joint = model.joint(inputs, samples)
        cache = model.ue_tick(inputs, data_samples=samples)
        tick = model.ae_tick(inputs, cache)
        refined = model.refiner_tick(inputs, tick)
    assert tick['ae_tokens'].shape == (2, 64 + 2 + 1 + 8 + 20 + 6, 48)
    prop = torch.stack([d.pred_ego_fut_trajs_proposal for d in out])
    pred = torch.stack([d.pred_ego_fut_trajs for d in out])
    assert pred.shape == (2, 6, 2)
    torch.testing.assert_close(prop, joint['waypoints'], atol=1e-5, rtol=1e-5)
    # async tick + refiner == synchronous predict (deterministic refiner noise)
    torch.testing.assert_close(refined['waypoints'], pred, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(refined['waypoints_proposal'], prop, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(pred, prop)  # the refiner was trained a few steps above: it moves the proposal
    with pytest.raises(KeyError, match=r"ae_out lacks \['ae_tokens'\]"):
        model.refiner_tick(inputs, {k: v for k, v in tick.items() if k != 'ae_tokens'})


def test_base_automot_has_no_refiner_tick():
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(refiner=None))
    assert model.refiner is None and not model.has_refiner
    plus = MODELS.build(_model_cfg()).eval()
    inputs, samples = _batch(seed=2)
    with torch.no_grad():  # untrained 'sample' refiner (zero residual): the proposal comes back
        out = plus(inputs, samples, mode='predict')
    for ds in out:
        torch.testing.assert_close(ds.pred_ego_fut_trajs, ds.pred_ego_fut_trajs_proposal, atol=1e-4, rtol=0)
    assert plus.has_refiner and 'refiner_params' not in model.count_params()
    with pytest.raises(RuntimeError, match='built without a refiner'):
        model.refiner_tick(inputs, {})


def test_driver_runs_refiner(plus):
    from mmautomot.apis import Driver
    from mmautomot.models.data_preprocessors import DrivingDataPreprocessor

    model = plus.eval()
    if not isinstance(model.data_preprocessor, DrivingDataPreprocessor):
        model.data_preprocessor = DrivingDataPreprocessor()
    rng = np.random.default_rng(0)
    driver = Driver(model, ue_refresh=dict(type='UERefreshPolicy', ue_interval=2))
    obs = dict(
        images={'CAM_FRONT': rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)},
        points=(rng.standard_normal((300, 4)) * 8).astype(np.float32),
        speed=4.0,
        target_point=np.array([20.0, 1.0], dtype=np.float32),
        command=2,
    )
    out = driver.step(obs)
    assert set(out['timings_ms']) == {'preprocess', 'ue', 'ae', 'refiner', 'total'}
    assert out['timings_ms']['refiner'] > 0
    assert out['waypoints'].shape == (6, 2) and out['waypoints_proposal'].shape == (6, 2)


def test_benchmark_latency_reports_refiner():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_latency.py')
    spec = importlib.util.spec_from_file_location('benchmark_latency', path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.main([PLUS, '--iters', '1', '--warmup', '0', '--num-points', '300'])
    assert res['refiner_ms'] is not None and res['refiner_ms'] > 0
    assert res['refiner_gflop'] > 0 and res['refiner_params'] > 0
    assert res['async_ms'] > 0 and res['speedup'] == pytest.approx(res['sync_ms'] / res['async_ms'])
