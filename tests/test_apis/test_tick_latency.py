# Copyright (c) mmautomot contributors. All rights reserved.
import pytest

from mmautomot.apis.tick_latency import measure_tick_latency, percentiles
from mmautomot.models.mot import PrefixKVCache


def test_percentiles():
    p = percentiles(list(range(1, 101)))
    assert p['p50'] == pytest.approx(50.5) and p['p99'] == pytest.approx(99.01) and p['max'] == 100


def test_modes_interleave_in_blocks_and_report_cache_age():
    log = []

    def ue_fn(tick, cache):
        log.append(('ue', tick))
        return PrefixKVCache(1, 1, 1, 2, 2)

    def ae_fn(cache):
        log.append(('ae', cache.created_tick))

    res = measure_tick_latency(ue_fn, ae_fn, ticks=4, ue_interval=2, block=2, warmup=1)
    assert {m: len(res[m]['tick_ms']) for m in ('sync', 'inline', 'background', 'ae_only')} == dict.fromkeys(
        ('sync', 'inline', 'background', 'ae_only'), 4
    )
    assert res['sync']['cache_age'] == [0] * 4 and res['sync']['waited'] == 4
    assert res['inline']['cache_age'] == [0, 1, 0, 1] and res['inline']['waited'] == 2
    # background: never waits after the first tick; the AE reads the old cache (age up to 2 * ue_interval - 1)
    # until the worker's new one is swapped in (a refresh drained at a block's end is swapped in)
    assert res['background']['waited'] == 0 and 1 <= min(res['background']['cache_age'])
    assert max(res['background']['cache_age']) <= 3
    # one turn = 2 sync ticks (UE + AE each), 2 inline ticks, 2 background ticks, 2 AE-only ticks
    assert log[1:5] == [('ue', 0), ('ae', 0), ('ue', 1), ('ae', 1)]
    assert len([e for e in log if e[0] == 'ae']) == 3 * 4 * 2
