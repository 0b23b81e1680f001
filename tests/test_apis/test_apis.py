# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mmautomot.apis import Driver, init_model
from mmautomot.models.mot import StaleCacheError
from mmautomot.utils import CheckpointMismatchError

CFG = 'projects/automot/configs/automot_tiny_1xb2-200i_nuscenes-e2e.py'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_model(CFG)


def _obs(rng, **kw):
    obs = dict(
        images={'CAM_FRONT': rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)},
        points=(rng.standard_normal((300, 4)) * 8).astype(np.float32),
        speed=4.0,
        target_point=np.array([20.0, 1.0], dtype=np.float32),
        command=2,
    )
    obs.update(kw)
    return obs


def test_init_model_loads_safetensors_and_pth(model, tmp_path):
    state = {k: v.clone() + 0.01 if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()}
    state = {k: v for k, v in state.items() if 'lm_head' not in k}  # tied to the embedding
    save_file(state, str(tmp_path / 'w.safetensors'))
    m2 = init_model(CFG, str(tmp_path / 'w.safetensors'))
    w = 'mot.ae_layers.0.self_attn.q_proj.weight'
    assert torch.equal(m2.state_dict()[w], state[w]) and not m2.training
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), tmp_path / 'w.pth')
    m3 = init_model(CFG, str(tmp_path / 'w.pth'))
    assert torch.equal(m3.state_dict()[w], state[w])
    state.pop(w)
    save_file(state, str(tmp_path / 'bad.safetensors'))
    with pytest.raises(CheckpointMismatchError, match=f'1 missing keys.*{w}'):
        init_model(CFG, str(tmp_path / 'bad.safetensors'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        init_model(CFG, str(tmp_path / 'none.pth'))


def test_driver_async_schedule_and_outputs(model):
    rng = np.random.default_rng(0)
    driver = Driver(model)  # config: ue_interval=2, max_cache_age=4
    outs = [driver.step(_obs(rng)) for _ in range(5)]
    assert [o['ue_ran'] for o in outs] == [True, False, True, False, True]
    assert [o['cache_age'] for o in outs] == [0, 1, 0, 1, 0]
    o = outs[-1]
    assert o['meta_actions'].shape == (3, 2) and o['meta_actions'].dtype == np.int64
    assert o['path'].shape == (20, 2) and o['waypoints'].shape == (6, 2)
    assert set(o['timings_ms']) == {'preprocess', 'ue', 'ae', 'total'} and o['timings_ms']['ae'] > 0
    assert outs[1]['timings_ms']['ue'] == 0.0 and len(o['meta_action_text']) == 3
    assert driver.last_hist.shape == (2, 3, 64, 128)
    assert isinstance(driver.answer('What is your current action and why?', max_new_tokens=4), str)


def test_driver_matches_synchronous_joint_pass(model):
    rng = np.random.default_rng(1)
    obs = _obs(
        rng, img_hist=[rng.integers(0, 256, (64, 128, 3), dtype=np.uint8) for _ in range(2)], prompt='Drive carefully.'
    )
    driver = Driver(model, ue_refresh=dict(type='UERefreshPolicy', mode='sync'))
    out = driver.step(obs)
    data = driver.prepare(obs)
    with torch.no_grad():
        ref = model.joint(data['inputs'], data['data_samples'])
    np.testing.assert_allclose(out['waypoints'], ref['waypoints'][0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out['path'], ref['path'][0].numpy(), atol=1e-5)


def test_driver_refuses_stale_cache(model):
    rng = np.random.default_rng(2)
    driver = Driver(model, ue_refresh=dict(type='UERefreshPolicy', ue_interval=3, max_cache_age=1, on_stale='raise'))
    driver.step(_obs(rng))
    driver.step(_obs(rng))
    with pytest.raises(StaleCacheError, match='stale'):
        driver.step(_obs(rng))
    with pytest.raises(KeyError, match="lacks 'speed'"):
        driver.step({k: v for k, v in _obs(rng).items() if k != 'speed'})


def test_driver_follows_external_ticks_and_reset(model):
    rng = np.random.default_rng(1)
    driver = Driver(model, ue_interval=2, max_cache_age=4)
    # the closed-loop agent calls the model every 2nd simulator tick: ticks 0, 2, 4 are all UE ticks
    outs = [driver.step(_obs(rng, tick=t)) for t in (0, 2, 4)]
    assert [o['ue_ran'] for o in outs] == [True, True, True] and [o['tick'] for o in outs] == [0, 2, 4]
    # ticks 5, 6, 7: the schedule follows the caller's clock, and ages are in its ticks
    outs = [driver.step(_obs(rng, tick=t)) for t in (5, 6, 7)]
    assert [o['ue_ran'] for o in outs] == [False, True, False]
    assert [o['cache_age'] for o in outs] == [1, 0, 1]
    with pytest.raises(ValueError, match='before the current tick'):
        driver.step(_obs(rng, tick=3))
    # a new route: reset drops the history and the cache, tick 0 refreshes the UE again
    out = driver.step(_obs(rng, tick=0, reset=True))
    assert out['ue_ran'] and out['cache_age'] == 0 and len(driver.history) == 1
    with pytest.raises(TypeError, match="unknown arguments \\['ue_intervall'\\]"):
        Driver(model, ue_intervall=3)


@pytest.mark.parametrize(
    'kwargs,ticks,used',
    [
        (dict(ue_interval=2, max_cache_age=None), [1, 3, 5, 7], [1, 3, 5, 7]),  # odd caller ticks
        (dict(ue_interval=3, max_cache_age=2), [0, 1, 5, 6, 9], [0, 0, 5, 5, 9]),  # jump, forced refresh
    ],
)
def test_driver_ae_reads_the_cache_of_the_right_tick(model, kwargs, ticks, used):
    """Irregular caller clocks: the plan at each tick equals the AE run on a fresh UE cache built from the
    observation of the tick the age rule picks (values, not ``ue_ran`` flags)."""
    rng = np.random.default_rng(3)
    obs = {
        t: _obs(
            rng,
            tick=t,
            command=t % 6,
            speed=float(t),
            img_hist=[rng.integers(0, 256, (64, 128, 3), dtype=np.uint8) for _ in range(2)],
        )
        for t in ticks
    }
    driver = Driver(model, **kwargs)
    outs = [driver.step(obs[t]) for t in ticks]
    with torch.no_grad():

        def ae(t, u):  # AE at tick t on a fresh cache of tick u
            data, src = driver.prepare(obs[t]), driver.prepare(obs[u])
            cache = model.ue_tick(src['inputs'], data_samples=src['data_samples'], tick=u)
            return model.ae_tick(data['inputs'], cache)['waypoints'][0].numpy()

        for t, u, out in zip(ticks, used, outs):
            np.testing.assert_allclose(out['waypoints'], ae(t, u), atol=1e-5, err_msg=f'tick {t}')
        # the test can tell caches apart: the previous tick's cache gives another plan
        assert not np.allclose(ae(ticks[2], ticks[1]), ae(ticks[2], ticks[2]), atol=1e-4)


def test_driver_answer_continues_the_driving_cache(model):
    """``Driver.answer`` = greedy decoding of transformers' own Qwen3-VL on the full token sequence
    (driving prefix of the cached tick + a question turn with the current command and speed), without
    running the vision tower again and without touching the cache."""
    import copy

    model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(0)
    for p in model.mot.ue.core.model.language_model.parameters():
        if p.dim() == 2:  # larger random weights than the tiny init: the answer is not one repeated token
            p.data.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    rng = np.random.default_rng(4)
    hist = lambda: [rng.integers(0, 256, (64, 128, 3), dtype=np.uint8) for _ in range(2)]  # noqa: E731
    obs0 = _obs(rng, img_hist=hist(), command=0, speed=3.0, tick=0)
    obs1 = _obs(rng, img_hist=hist(), command=1, speed=5.5, tick=1)
    driver = Driver(model, ue_interval=2, max_cache_age=None)
    assert [driver.step(o)['ue_ran'] for o in (obs0, obs1)] == [True, False]  # the cache is tick 0's
    ue = model.mot.ue
    keys = [k.clone() for k in driver.ue_refresh.cache.keys]
    calls = []
    hook = ue.core.model.visual.register_forward_hook(lambda *a: calls.append(1))
    question = 'What is your current action and why?'
    try:
        ids = driver.answer(question, max_new_tokens=8, return_ids=True)
    finally:
        hook.remove()
    assert calls == [] and all(torch.equal(a, b) for a, b in zip(keys, driver.ue_refresh.cache.keys))

    # reference: the full sequence through transformers' forward, no cache, one token at a time
    data = driver.prepare(obs0)
    batch = model.ue_inputs(data['inputs'], data['data_samples'])
    turn = (
        '<|im_end|>\n<|im_start|>user\nNavigation command: turn right. Current speed: 5.5 m/s. '
        f'{question}<|im_end|>\n<|im_start|>assistant\n'
    )
    seq = torch.cat([batch['input_ids'], torch.tensor([ue.tokenizer.encode(turn)])], 1)
    ref = []
    with torch.no_grad():
        for _ in range(8):
            mm = torch.zeros_like(seq, dtype=torch.int)
            mm[:, : batch['mm_token_type_ids'].shape[1]] = batch['mm_token_type_ids']
            logits = ue.core(
                input_ids=seq,
                attention_mask=torch.ones_like(seq),
                mm_token_type_ids=mm,
                pixel_values=batch['pixel_values'],
                image_grid_thw=batch['image_grid_thw'],
                use_cache=False,
            ).logits
            ref.append(int(logits[0, -1].argmax()))
            if ref[-1] == ue.tokenizer.eos_token_id:
                break
            seq = torch.cat([seq, torch.tensor([[ref[-1]]])], 1)
    assert ids == ref and len(set(ids)) > 2, (ids, ref)
    assert driver.answer(question, max_new_tokens=8) == ue.tokenizer.decode(ref)
    driver.reset()
    with pytest.raises(RuntimeError, match='call step\\(\\) first'):
        driver.answer(question)
