# Copyright (c) mmautomot contributors. All rights reserved.
"""UERefreshPolicy(mode='background'): the UE fills a second cache in a worker thread, swapped in atomically.

A fake UE writes the cache layer by layer with sleeps (every layer holds the observation tick it was computed
from); the fake AE reads the layers slowly, so a cache written while the AE reads it would show mixed ticks.
"""

import threading
import time
import traceback

import pytest
import torch

from mmautomot.models.mot import PrefixKVCache, StaleCacheError, UERefreshPolicy

LAYERS = 4


def slow_ue(delay=0.01, log=None, fail_at=None):
    """ue_fn(tick, cache): writes layer i = tick + i (after a sleep) into ``cache`` or a new cache."""

    def ue_fn(tick, cache):
        if log is not None:
            log.append((tick, threading.current_thread().name, torch.is_grad_enabled(), cache))
        if fail_at is not None and tick == fail_at:
            raise ValueError(f'UE exploded at tick {tick}')
        cache = cache if cache is not None else PrefixKVCache(LAYERS, 1, 1, 2, 3)
        cache.begin_write(torch.ones(1, 3, dtype=torch.bool), torch.tensor([3]), tick)
        for i in range(LAYERS):
            time.sleep(delay)
            x = torch.full((1, 1, 3, 2), float(tick + i))
            cache.write(i, x, -x)
        cache.end_write()
        return cache

    return ue_fn


def ae(cache, delay=0.0):
    """The AE: reads every layer (slowly); the output is a function of the cache contents only."""
    vals = []
    for i in range(LAYERS):
        k, v = cache.get(i)
        vals.append(float(k.sum() - v.sum()))
        time.sleep(delay)
    return vals


def consistent(vals):
    """The layers of one cache written by ``slow_ue``: layer i == (tick + i) * 12 for one tick."""
    base = vals[0] / 12
    return all(abs(val - (base + i) * 12) < 1e-6 for i, val in enumerate(vals))


class Recorder:
    """ae_fn that records the handed cache (object, snapshot at start and end of its read) and the output."""

    def __init__(self, delay=0.005):
        self.delay, self.rows = delay, []

    def snap(self, cache):
        return [t.clone() for t in cache.keys + cache.values], cache.created_tick, cache.length

    def __call__(self, cache):
        before = self.snap(cache)
        out = ae(cache, self.delay)
        self.rows.append(dict(cache=cache, before=before, after=self.snap(cache), out=out))
        return out


def _rebuild(snapshot):
    tensors, tick, length = snapshot
    c = PrefixKVCache(LAYERS, 1, 1, 2, 3)
    c.keys, c.values = tensors[:LAYERS], tensors[LAYERS:]
    c.length, c.created_tick = length, tick
    return c


def test_torn_read_detector_catches_an_in_place_write():
    """Negative control: the consistency check does see a cache rewritten in place while the AE reads it."""
    cache = slow_ue(0)(0, None)
    writer = threading.Thread(target=slow_ue(0.02), args=(7, cache))
    writer.start()
    time.sleep(0.03)  # layer 0 rewritten (tick 7), the rest still tick 0
    vals = ae(cache)
    writer.join()
    assert not consistent(vals) and consistent(ae(cache))


def test_background_ae_output_equals_ae_on_the_handed_cache():
    log, rec = [], Recorder()
    policy = UERefreshPolicy(mode='background', ue_interval=2)
    try:
        with torch.no_grad():
            outs = [policy.step(slow_ue(0.01, log), rec) for _ in range(24)]
    finally:
        policy.close()
    assert [o['mode'] for o in outs] == ['background'] * 24
    for o, row in zip(outs, rec.rows):
        # no torn read, nothing written into the handed cache while the AE read it
        assert consistent(o['output']) and all(torch.equal(a, b) for a, b in zip(row['before'][0], row['after'][0]))
        # the output equals the AE run afterwards, single-threaded, on a copy of the handed cache
        assert ae(_rebuild(row['before'])) == o['output']
        assert o['cache_tick'] == row['cache'].created_tick == o['output'][0] / 12  # computed from that tick
        assert o['cache_age'] == o['tick'] - o['cache_tick']
    # every refresh wrote a NEW cache (the worker never gets the one the AE reads), in the worker thread,
    # under no_grad although the caller's no_grad does not reach that thread
    assert all(c is None for _, _, _, c in log)
    assert all(name.startswith('ue-refresh') and not grad for _, name, grad, _ in log)
    started = [o['tick'] for o in outs if o['ue_ran']]
    assert [t for t, *_ in log] == started and started[0] == 0
    # swaps happen, the AE ticks on during a refresh, and the cache ticks are refresh-start ticks in order
    assert sum(o['swapped'] for o in outs) >= 2 and any(o['refresh_in_flight'] for o in outs)
    ticks = [o['cache_tick'] for o in outs]
    assert ticks == sorted(ticks) and set(ticks) <= set(started) and len(set(ticks)) >= 2
    assert outs[0]['timings_ms']['ue'] > 0  # the first tick waits for the UE ...
    waited = [o for o in outs[1:] if o['timings_ms']['ue'] > 0]
    assert not waited  # ... no later one does (no max_cache_age)
    assert len({id(r['cache']) for r in rec.rows}) == len(set(ticks))


def test_background_respects_max_cache_age():
    policy = UERefreshPolicy(mode='background', ue_interval=1, max_cache_age=1)
    try:
        outs = [policy.step(slow_ue(0.02), Recorder(0.001)) for _ in range(10)]
    finally:
        policy.close()
    assert max(o['cache_age'] for o in outs) <= 1
    assert any(o['timings_ms']['ue'] > 0 for o in outs[1:])  # a tick had to wait for the worker
    with pytest.raises(StaleCacheError, match='stale'):
        strict = UERefreshPolicy(mode='background', ue_interval=3, max_cache_age=0, on_stale='raise')
        for _ in range(3):
            strict.step(slow_ue(0), ae)
    strict.close()


def test_worker_error_surfaces_with_its_traceback():
    policy = UERefreshPolicy(mode='background', ue_interval=1)
    policy.step(slow_ue(0), ae)  # tick 0 fine
    with pytest.raises(ValueError, match='UE exploded at tick 1') as info:
        for _ in range(50):
            policy.step(slow_ue(0, fail_at=1), lambda c: time.sleep(0.01))
    names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert 'ue_fn' in names  # the worker's own frames, not just the re-raise
    assert any('background UE refresh worker' in n for n in info.value.__notes__)
    assert policy.step(slow_ue(0), ae)['cache_age'] >= 1  # usable afterwards: the old cache, a new refresh
    policy.close()


def test_first_tick_error_surfaces_in_step():
    policy = UERefreshPolicy(mode='background')
    with pytest.raises(ValueError, match='tick 0'):
        policy.step(slow_ue(0, fail_at=0), ae)
    policy.close()


def test_reset_and_close_drop_a_refresh_in_flight():
    policy = UERefreshPolicy(mode='background', ue_interval=1)
    policy.step(slow_ue(0), ae)
    out = policy.step(slow_ue(0.05), ae)  # starts a slow refresh from tick 1
    assert out['ue_ran'] and policy.refresh_in_flight()
    policy.reset()  # waits for it and drops it: a new route starts from nothing
    assert policy.cache is None and not policy.refresh_in_flight() and policy.tick == 0
    first = policy.step(slow_ue(0), ae, tick=0)
    assert first['cache_tick'] == 0 and first['output'][0] == 0
    policy.step(slow_ue(0.2), ae)  # a refresh in flight; an error in a dropped refresh is not raised
    policy.close()
    assert not [t for t in threading.enumerate() if t.name.startswith('ue-refresh')]


def test_background_ue_fn_reusing_the_current_cache_is_refused():
    policy = UERefreshPolicy(mode='background', ue_interval=1)
    shared = slow_ue(0)(0, None)
    with pytest.raises(RuntimeError, match='must allocate a new one'):
        for _ in range(50):  # raised at the first tick after the worker finished
            policy.step(lambda t, c: slow_ue(0)(t, shared), lambda c: time.sleep(0.01))
    policy.close()
