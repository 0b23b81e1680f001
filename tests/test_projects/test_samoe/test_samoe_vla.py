# Copyright (c) mmautomot contributors. All rights reserved.
import copy

import pytest
import torch
from samoe_test_utils import build_tiny, require_flow_head

from mmautomot.testing import demo_driving_batch

require_flow_head()


@pytest.fixture(scope='module')
def model():
    m = build_tiny()
    m.eval()
    return m


def _batch(seed=0, bsz=2):
    return demo_driving_batch(bsz=bsz, seed=seed)


def _count_calls(module, name='forward'):
    calls = []
    orig = getattr(module, name)

    def wrapped(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    setattr(module, name, wrapped)
    return calls, lambda: delattr(module, name)


def test_scene_vector_once_per_sample_shared_by_every_layer(model):
    inputs, samples = _batch()
    enc_calls, undo = _count_calls(model.scene_encoder)
    routers = [ffn.router for ffn in model.moe_ffns()]
    assert len(routers) == 3  # every Planning-expert layer is an SA-MoE layer here
    router_inputs = []
    hooks = [r.register_forward_hook(lambda m, a, o: router_inputs.append(a[0])) for r in routers]
    try:
        model.loss(inputs, samples)
        assert len(enc_calls) == 1 and len(router_inputs) == 3
        scene = model.scene_context.scene
        assert all(x is scene for x in router_inputs)  # the same tensor read by every layer's router
        enc_calls.clear(), router_inputs.clear()
        out = model.sample_actions(inputs, samples, num_steps=4)
        # one scene encoding for 4 flow steps; each step runs every layer's router on that same vector
        assert len(enc_calls) == 1 and len(router_inputs) == 3 * 4
        assert all(x is model.scene_context.scene for x in router_inputs)
        assert out['waypoints'].shape == (2, 6, 2)
    finally:
        undo()
        for h in hooks:
            h.remove()


def test_each_layer_routes_differently(model):
    inputs, samples = _batch()
    w = model.sample_actions(inputs, samples, num_steps=2)['expert_weights']
    assert w.shape == (2, 3, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3))
    for a in range(3):
        for b in range(a + 1, 3):
            assert (w[:, a] - w[:, b]).abs().max() > 1e-3


def test_routing_depends_on_bev_not_tokens(model):
    inputs, samples = _batch(seed=0)
    w0 = model.sample_actions(inputs, samples, num_steps=1)['expert_weights']
    # other ego state, history, command, instruction and noise: the Planning tokens change, the BEV does not
    other, _ = _batch(seed=5)
    same_bev = dict(
        inputs,
        ego_status=other['ego_status'],
        ego_hist_trajs=other['ego_hist_trajs'],
        command=(inputs['command'] + 1) % 3,
    )
    samples2 = copy.deepcopy(samples)
    for ds in samples2:
        ds.set_metainfo(dict(instruction='Take the second exit at the roundabout.'))
    out = model.sample_actions(same_bev, samples2, num_steps=1)
    torch.testing.assert_close(out['expert_weights'], w0)
    # another BEV (cameras and LiDAR): other weights
    new_bev = dict(inputs, imgs=other['imgs'], points=other['points'])
    w2 = model.sample_actions(new_bev, samples, num_steps=1)['expert_weights']
    assert (w2 - w0).abs().max() > 1e-4


def test_token_routing_baseline_follows_the_tokens():
    m = build_tiny(routing='token', top_k=2).eval()
    inputs, samples = _batch()
    m.sample_actions(inputs, samples, num_steps=1)
    w = m.moe_ffns()[0].last_weights
    assert w.shape == (2, 5 + 6, 4) and ((w > 0).sum(-1) == 2).all()
    assert m.sample_actions(inputs, samples, num_steps=1).get('expert_weights') is None
    other, _ = _batch(seed=5)
    m.sample_actions(dict(inputs, ego_status=other['ego_status']), samples, num_steps=1)
    assert not torch.allclose(m.moe_ffns()[0].last_weights, w)


def test_cached_inference_equals_joint_passes(model):
    inputs, samples = _batch()
    noise = torch.randn(2, 6, 2)
    a = model.sample_actions(inputs, samples, noise=noise, num_steps=3, use_cache=True)['waypoints']
    b = model.sample_actions(inputs, samples, noise=noise, num_steps=3, use_cache=False)['waypoints']
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_merge_mode_predicts_like_mix_mode(model):
    merged = build_tiny(mode='merge').eval()
    merged.load_state_dict(model.state_dict())
    inputs, samples = _batch()
    noise = torch.randn(2, 6, 2)
    a = model.sample_actions(inputs, samples, noise=noise, num_steps=3)['waypoints']
    b = merged.sample_actions(inputs, samples, noise=noise, num_steps=3)['waypoints']
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_instruction_input_with_command_fallback(model):
    from projects.samoe.samoe import command_instruction, instructions_of

    inputs, samples = _batch()
    assert instructions_of(inputs['command'], samples) == [command_instruction(int(c)) for c in inputs['command']]
    s2 = copy.deepcopy(samples)
    s2[0].set_metainfo(dict(instruction='  Turn right, then stop behind the bus.  '))
    s2[1].set_metainfo(dict(instruction=''))
    texts = instructions_of(inputs['command'], s2)
    assert texts == ['Turn right, then stop behind the bus.', command_instruction(int(inputs['command'][1]))]
    noise = torch.randn(2, 6, 2)
    a = model.sample_actions(inputs, samples, noise=noise, num_steps=2)['waypoints']
    b = model.sample_actions(inputs, s2, noise=noise, num_steps=2)['waypoints']
    assert (a[0] - b[0]).abs().max() > 1e-6  # the instruction reaches the plan
    torch.testing.assert_close(a[1], b[1])  # empty instruction = the command's sentence
    with pytest.raises(ValueError, match='command index 9'):
        command_instruction(9)


def test_loss_trains_and_predict_fills_samples():
    m = build_tiny()
    inputs, samples = _batch()
    losses = m.loss(inputs, samples)
    assert set(losses) == {'loss_flow'} and torch.isfinite(losses['loss_flow'])
    losses['loss_flow'].backward()
    ffn = m.moe_ffns()[1]
    assert ffn.router.weight.grad.abs().sum() > 0 and ffn.gate.grad.abs().sum() > 0
    assert m.scene_encoder.query.grad.abs().sum() > 0  # the routing signal is trained through the router
    m.eval()
    out = m.predict(inputs, copy.deepcopy(samples))
    assert out[0].pred_ego_fut_trajs.shape == (6, 2) and out[0].expert_weights.shape == (3, 4)


def test_bad_inputs(model):
    inputs, samples = _batch()
    with pytest.raises(KeyError, match="lack \\['points'\\]"):
        model.sample_actions({k: v for k, v in inputs.items() if k != 'points'}, samples)
    with pytest.raises(ValueError, match='ego_hist_trajs must be'):
        model.sample_actions(dict(inputs, ego_hist_trajs=torch.zeros(2, 3, 2)), samples)


def test_driver_runs_samoe_and_passes_the_instruction():
    import numpy as np

    from mmautomot.apis import Driver
    from mmautomot.closed_loop.protocol import ObservationError, validate_observation

    rng = np.random.default_rng(0)
    obs = dict(
        images={'CAM_FRONT': rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)},
        points=(rng.standard_normal((300, 4)) * 8).astype(np.float32),
        speed=4.0,
        target_point=np.array([10.0, 0.0], np.float32),
        command=2,
        tick=0,
    )
    validate_observation(dict(obs, instruction='Turn left after the bus stop.'))
    with pytest.raises(ObservationError, match="'instruction' must be a string"):
        validate_observation(dict(obs, instruction=3))
    model = build_tiny(preprocessor=True)
    seen = []
    orig = model.ue_tick

    def spy(inputs, cache=None, data_samples=None, tick=None):
        seen.append([ds.get('instruction') for ds in data_samples])
        return orig(inputs, cache=cache, data_samples=data_samples, tick=tick)

    model.ue_tick = spy
    try:
        driver = Driver(model, ue_interval=2, max_cache_age=4, synchronous=False)
        out = driver.step(dict(obs, instruction='Turn left after the bus stop.'))
        assert out['waypoints'].shape == (6, 2) and out['ue_ran'] and out['meta_actions'].shape == (0, 2)
        out2 = driver.step(dict(obs, tick=1))
        assert not out2['ue_ran'] and np.isfinite(out2['waypoints']).all()
        assert seen == [['Turn left after the bus stop.']]
    finally:
        del model.ue_tick
    # the same observation through ue_tick / ae_tick equals the model's own cached sampling
    data = driver.prepare(obs)
    noise = torch.randn(1, 6, 2)
    cache = model.ue_tick(data['inputs'], data_samples=data['data_samples'], tick=0)
    a = model.ae_tick(data['inputs'], cache, noise=noise)['waypoints']
    b = model.sample_actions(data['inputs'], data['data_samples'], noise=noise)['waypoints']
    torch.testing.assert_close(a, b)


def test_agent_core_sends_the_instruction():
    from mmautomot.closed_loop.agent_core import ClosedLoopAgent

    core = ClosedLoopAgent(dict(instruction='Follow the truck.'), driver=object())
    state = type('S', (), dict(speed=1.0, ego_status=None))()
    obs = core._observation({}, None, state, dict(target_point=[1.0, 0.0], command=3))
    assert obs['instruction'] == 'Follow the truck.'
    core.set_instruction(None)
    assert 'instruction' not in core._observation({}, None, state, dict(target_point=[1.0, 0.0], command=3))
    with pytest.raises(TypeError, match='str or None'):
        core.set_instruction(5)
