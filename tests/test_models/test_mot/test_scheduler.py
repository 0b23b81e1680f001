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


# caller clocks -> (scheduler settings, the cache tick each call must read). Hand-derived from the rule
# "refresh when the cache is >= ue_interval ticks old (or older than max_cache_age)".
IRREGULAR_CLOCKS = [
    # odd ticks only: tick % 2 never hits 0, the cache must still be refreshed every call
    (dict(ue_interval=2), [1, 3, 5, 7, 9], [1, 3, 5, 7, 9]),
    # jumps: the refresh follows the age, not the multiples of 3
    (dict(ue_interval=3), [0, 1, 10, 11, 12, 13, 14, 20], [0, 0, 10, 10, 10, 13, 13, 20]),
    # a forced refresh at tick 5 (age 5 > 2) is not followed by a redundant scheduled one at tick 6
    (dict(ue_interval=3, max_cache_age=2), [0, 1, 5, 6, 7, 8, 9], [0, 0, 5, 5, 5, 8, 8]),
]


@pytest.mark.parametrize('cfg,ticks,expected', IRREGULAR_CLOCKS)
def test_refresh_follows_cache_age_on_irregular_clocks(cfg, ticks, expected):
    sched = AsyncScheduler(**cfg)

    def ue_fn(tick):
        cache = PrefixKVCache(1, 1, 1, 2, 4)
        cache.keys[0].fill_(tick)  # the cache holds the tick it was computed at
        return cache

    outs = [sched.step(ue_fn, lambda cache: int(cache.keys[0][0, 0, 0, 0]), tick=t) for t in ticks]
    assert [o['output'] for o in outs] == expected
    assert [o['cache_age'] for o in outs] == [t - e for t, e in zip(ticks, expected)]
    assert [o['ue_ran'] for o in outs] == [t == e for t, e in zip(ticks, expected)]


def test_reset_restarts_the_clock():
    sched = AsyncScheduler(ue_interval=2)
    calls, _ = _run(sched, 3)
    sched.reset()
    out = [
        sched.step(lambda t: calls.append(t) or PrefixKVCache(1, 1, 1, 2, 4), lambda c: None, tick=t)
        for t in (0, 3, 4, 5)
    ]
    assert calls == [0, 2, 0, 3, 5] and [o['cache_age'] for o in out] == [0, 0, 1, 0]
