# Copyright (c) mmautomot contributors. All rights reserved.
"""Driver(mode='background') on the tiny AutoMoT: the UE refreshes in a worker thread into a new cache; at
every tick the AE output equals the AE run afterwards on a copy of exactly the cache it was handed, and that
cache equals the UE run on the observation of its own tick."""

import copy
import time
import warnings

import numpy as np
import pytest
import torch

from mmautomot.apis import Driver, init_model

CFG = 'projects/automot/configs/automot_tiny_1xb2-200i_nuscenes-e2e.py'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_model(CFG)


def _obs(rng, tick):
    return dict(
        images={'CAM_FRONT': rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)},
        points=(rng.standard_normal((300, 4)) * 8).astype(np.float32),
        speed=4.0 + tick,
        target_point=np.array([20.0, 1.0], dtype=np.float32),
        command=tick % 3,
        tick=tick,
    )


def _snapshot(cache):
    snap = copy.copy(cache)  # a new object holding clones: what the cache contained when the AE got it
    snap.keys = [k.clone() for k in cache.keys]
    snap.values = [v.clone() for v in cache.values]
    snap.key_valid, snap.next_position = cache.key_valid.clone(), cache.next_position.clone()
    return snap


def test_background_driver_ae_reads_only_complete_handed_caches(model, monkeypatch):
    ue_tick, ae_tick = model.ue_tick, model.ae_tick
    ue_calls, ae_rows = {}, []

    def slow_ue_tick(inputs, cache=None, data_samples=None, tick=None):
        ue_calls[tick] = (inputs, data_samples, cache)
        out = ue_tick(inputs, cache=cache, data_samples=data_samples, tick=tick)
        time.sleep(0.06)  # a UE slower than the AE: refreshes span several ticks
        return out

    def recording_ae_tick(inputs, cache):
        before = _snapshot(cache)
        out = ae_tick(inputs, cache)
        ae_rows.append((inputs, cache, before, out['waypoints'].clone()))
        return out

    monkeypatch.setattr(model, 'ue_tick', slow_ue_tick)
    monkeypatch.setattr(model, 'ae_tick', recording_ae_tick)
    rng = np.random.default_rng(0)
    driver = Driver(model, mode='background', ue_interval=2)
    try:
        outs = [driver.step(_obs(rng, t)) for t in range(12)]
    finally:
        driver.close()
    monkeypatch.undo()
    assert [o['ue_refresh']['mode'] for o in outs] == ['background'] * 12
    assert all(c is None for *_, c in ue_calls.values())  # every refresh wrote a new cache
    assert any(o['ue_refresh']['refresh_in_flight'] for o in outs)
    assert sum(o['ue_refresh']['swapped'] for o in outs) >= 2
    with torch.no_grad():
        for o, (inputs, cache, before, wps) in zip(outs, ae_rows):
            assert np.array_equal(o['waypoints'], wps[0].numpy())
            # the AE output equals the AE run afterwards (single-threaded) on a copy of the handed cache
            assert torch.equal(model.ae_tick(inputs, before)['waypoints'], wps)
            # nothing wrote into the handed cache while (or after) the AE read it
            assert all(torch.equal(a, b) for a, b in zip(cache.keys + cache.values, before.keys + before.values))
            # the handed cache is the UE's output on the observation of its own (refresh-start) tick
            tick = o['ue_refresh']['cache_tick']
            assert o['cache_age'] == o['tick'] - tick and tick in ue_calls
            ref = model.ue_tick(ue_calls[tick][0], data_samples=ue_calls[tick][1], tick=tick)
            assert ref.length == before.length
            assert all(torch.equal(a, b) for a, b in zip(ref.keys + ref.values, before.keys + before.values))
    ticks = [o['ue_refresh']['cache_tick'] for o in outs]
    assert ticks == sorted(ticks) and len(set(ticks)) >= 2


def test_background_first_tick_equals_inline(model):
    rng = np.random.default_rng(1)
    obs = _obs(rng, 0)
    inline = Driver(model, mode='inline').step(obs)
    bg = Driver(model, mode='background')
    try:
        out = bg.step(obs)
    finally:
        bg.close()
    assert out['ue_ran'] and out['cache_age'] == 0 and out['timings_ms']['ue'] > 0  # the first tick waits
    np.testing.assert_array_equal(out['waypoints'], inline['waypoints'])


def test_deprecated_scheduler_names_still_work(model, monkeypatch):
    from mmautomot.models.mot import ue_refresh

    monkeypatch.setattr(ue_refresh, '_WARNED', set())
    with pytest.warns(FutureWarning, match=r'Driver\(scheduler=...\) is deprecated'):
        drv = Driver(model, scheduler=dict(type='UERefreshPolicy', mode='sync'))
    with pytest.warns(FutureWarning, match=r'Driver.scheduler is deprecated'):
        assert drv.scheduler is drv.ue_refresh and drv.ue_refresh.mode == 'sync'
    monkeypatch.setattr(model, 'cfg', dict(scheduler=dict(type='AsyncScheduler', ue_interval=3)))  # an old config
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert Driver(model).ue_refresh.ue_interval == 3
    messages = sorted(str(w.message).split(' is deprecated')[0] for w in caught if w.category is FutureWarning)
    assert messages == ['AsyncScheduler', "the config key 'scheduler'"]
    with pytest.raises(TypeError, match='unknown arguments'):
        Driver(model, ue_intervall=3)
