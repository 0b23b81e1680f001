# Copyright (c) mmautomot contributors. All rights reserved.
import pytest

from mmautomot.models.mot import AsyncScheduler, PrefixKVCache, StaleCacheError
from mmautomot.registry import TASK_UTILS


def _run(sched, n, ue_fail_at=()):
    calls = []

    def ue_fn(tick):
        calls.append(tick)
        return PrefixKVCache(1, 1, 1, 2, 4)

    out = [sched.step(ue_fn, lambda cache: cache.age(sched.tick)) for _ in range(n)]
    return calls, out


def test_async_every_k_ticks():
    sched = TASK_UTILS.build(dict(type='AsyncScheduler', ue_interval=3))
    calls, out = _run(sched, 7)
    assert calls == [0, 3, 6]
    assert [o['ue_ran'] for o in out] == [True, False, False, True, False, False, True]
    assert [o['output'] for o in out] == [0, 1, 2, 0, 1, 2, 0]
    assert [o['cache_age'] for o in out] == [0, 1, 2, 0, 1, 2, 0]
    assert all(o['timings_ms']['ae'] >= 0 for o in out) and out[1]['timings_ms']['ue'] == 0.0


def test_synchronous_mode_runs_ue_every_tick():
    calls, _ = _run(AsyncScheduler(ue_interval=5, synchronous=True), 4)
    assert calls == [0, 1, 2, 3]


def test_stale_cache_refresh_or_raise():
    # cache may be at most 1 tick old although the schedule says every 4th tick
    calls, out = _run(AsyncScheduler(ue_interval=4, max_cache_age=1, on_stale='refresh'), 6)
    assert calls == [0, 2, 4]
    assert max(o['cache_age'] for o in out) == 1
    sched = AsyncScheduler(ue_interval=4, max_cache_age=1, on_stale='raise')
    _run(sched, 2)
    with pytest.raises(StaleCacheError, match='age 2 ticks'):
        _run(sched, 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match='ue_interval'):
        AsyncScheduler(ue_interval=0)
    with pytest.raises(ValueError, match='on_stale'):
        AsyncScheduler(on_stale='ignore')
