# Copyright (c) mmautomot contributors. All rights reserved.
import pytest

from mmautomot.models.mot import PrefixKVCache, StaleCacheError, UERefreshPolicy
from mmautomot.registry import TASK_UTILS


def _run(policy, n, ue_fail_at=()):
    calls = []

    def ue_fn(tick, cache):
        calls.append(tick)
        return PrefixKVCache(1, 1, 1, 2, 4)

    out = [policy.step(ue_fn, lambda cache: cache.age(policy.tick)) for _ in range(n)]
    return calls, out


def test_async_every_k_ticks():
    policy = TASK_UTILS.build(dict(type='UERefreshPolicy', ue_interval=3))
    calls, out = _run(policy, 7)
    assert calls == [0, 3, 6]
    assert [o['ue_ran'] for o in out] == [True, False, False, True, False, False, True]
    assert [o['output'] for o in out] == [0, 1, 2, 0, 1, 2, 0]
    assert [o['cache_age'] for o in out] == [0, 1, 2, 0, 1, 2, 0]
    assert all(o['timings_ms']['ae'] >= 0 for o in out) and out[1]['timings_ms']['ue'] == 0.0


def test_synchronous_mode_runs_ue_every_tick():
    calls, _ = _run(UERefreshPolicy(mode='sync', ue_interval=5), 4)
    assert calls == [0, 1, 2, 3]


def test_stale_cache_refresh_or_raise():
    # cache may be at most 1 tick old although the schedule says every 4th tick
    calls, out = _run(UERefreshPolicy(ue_interval=4, max_cache_age=1, on_stale='refresh'), 6)
    assert calls == [0, 2, 4]
    assert max(o['cache_age'] for o in out) == 1
    policy = UERefreshPolicy(ue_interval=4, max_cache_age=1, on_stale='raise')
    _run(policy, 2)
    with pytest.raises(StaleCacheError, match='age 2 ticks'):
        _run(policy, 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match='ue_interval'):
        UERefreshPolicy(ue_interval=0)
    with pytest.raises(ValueError, match='on_stale'):
        UERefreshPolicy(on_stale='ignore')
    with pytest.raises(ValueError, match="mode must be one of .*'background'"):
        UERefreshPolicy(mode='async')


# caller clocks -> (policy settings, the cache tick each call must read). Hand-derived from the rule
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
    policy = UERefreshPolicy(**cfg)

    def ue_fn(tick, prev):
        cache = PrefixKVCache(1, 1, 1, 2, 4)
        cache.keys[0].fill_(tick)  # the cache holds the tick it was computed at
        return cache

    outs = [policy.step(ue_fn, lambda cache: int(cache.keys[0][0, 0, 0, 0]), tick=t) for t in ticks]
    assert [o['output'] for o in outs] == expected
    assert [o['cache_age'] for o in outs] == [t - e for t, e in zip(ticks, expected)]
    assert [o['ue_ran'] for o in outs] == [t == e for t, e in zip(ticks, expected)]


def test_reset_restarts_the_clock():
    policy = UERefreshPolicy(ue_interval=2)
    calls, _ = _run(policy, 3)
    policy.reset()
    out = [
        policy.step(lambda t, c: calls.append(t) or PrefixKVCache(1, 1, 1, 2, 4), lambda c: None, tick=t)
        for t in (0, 3, 4, 5)
    ]
    assert calls == [0, 2, 0, 3, 5] and [o['cache_age'] for o in out] == [0, 0, 1, 0]


def test_inline_overwrites_the_current_cache_in_place():
    """'inline' (and 'sync') hand ue_fn the current cache to overwrite: the refresh is copy-free."""
    policy, handed = UERefreshPolicy(mode='inline', ue_interval=1), []
    ue = lambda t, c: handed.append(c) or (c if c is not None else PrefixKVCache(1, 1, 1, 2, 4))  # noqa: E731
    first = policy.step(ue, lambda c: c)['output']
    assert policy.step(ue, lambda c: c)['output'] is first and handed == [None, first]


def test_deprecated_async_scheduler_alias_still_builds_and_warns_once(monkeypatch):
    from mmautomot.models.mot import ue_refresh

    monkeypatch.setattr(ue_refresh, '_WARNED', set())
    with pytest.warns(FutureWarning, match='AsyncScheduler is deprecated, use UERefreshPolicy'):
        old = TASK_UTILS.build(dict(type='AsyncScheduler', ue_interval=3, synchronous=False))
    assert isinstance(old, UERefreshPolicy) and old.mode == 'inline' and old.ue_interval == 3
    calls = []
    old_ue = lambda t: calls.append(t) or PrefixKVCache(1, 1, 1, 2, 4)  # noqa: E731
    outs = [old.step(old_ue, lambda c: c.created_tick) for _ in 'abcd']
    assert calls == [0, 3] and [o['output'] for o in outs] == [0, 0, 0, 3]  # the old one-argument ue_fn works
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert TASK_UTILS.build(dict(type='AsyncScheduler', synchronous=True)).mode == 'sync'  # no second warning
