# Copyright (c) mmautomot contributors. All rights reserved.
"""Asynchronous UE/AE scheduling: the UE refreshes the prefix cache once it is k action-expert ticks old."""

import time
from typing import Any, Callable, Dict, Optional

from mmautomot.registry import TASK_UTILS

from .prefix_kv_cache import PrefixKVCache


class StaleCacheError(RuntimeError):
    """The prefix cache is older than ``max_cache_age`` and the scheduler is set to refuse it."""


@TASK_UTILS.register_module()
class AsyncScheduler:
    """Decide per control tick whether the understanding expert (UE) refreshes the prefix cache.

    Paper: AutoMoT asynchronous inference (the released agent hard-codes a UE refresh every 2nd tick of a
    20 Hz loop; here it is configurable). AutoMoT-S (synchronous) is ``synchronous=True``: the UE runs at
    every tick.

    Args:
        ue_interval (int): refresh the UE once the cache is ``ue_interval`` ticks old (measured from the
            tick the cache was written at, on the caller's clock), so irregular caller clocks (ticks
            1, 3, 5, ... or jumps) keep refreshing and a forced refresh restarts the count. The first tick
            (no cache) always refreshes. Defaults to 2.
        max_cache_age (int | None): largest allowed cache age in ticks when the AE runs; None = no limit.
            Defaults to None.
        on_stale (str): 'refresh' (run the UE now) or 'raise' (:class:`StaleCacheError`) when the cache is
            older than ``max_cache_age`` at a tick where no refresh is due. A missing cache (first tick,
            after :meth:`reset`) always refreshes.
            Defaults to 'refresh'.
        synchronous (bool): run the UE at every tick (AutoMoT-S). Defaults to False.
    """

    def __init__(
        self,
        ue_interval: int = 2,
        max_cache_age: Optional[int] = None,
        on_stale: str = 'refresh',
        synchronous: bool = False,
    ):
        if ue_interval < 1:
            raise ValueError(f'AsyncScheduler: ue_interval must be >= 1, got {ue_interval}')
        if on_stale not in ('refresh', 'raise'):
            raise ValueError(f"AsyncScheduler: on_stale must be 'refresh' or 'raise', got {on_stale!r}")
        if max_cache_age is not None and max_cache_age < 0:
            raise ValueError(f'AsyncScheduler: max_cache_age must be >= 0 or None, got {max_cache_age}')
        self.ue_interval = 1 if synchronous else int(ue_interval)
        self.max_cache_age = max_cache_age
        self.on_stale = on_stale
        self.synchronous = synchronous
        self.tick = 0
        self.cache: Optional[PrefixKVCache] = None

    def reset(self) -> None:
        self.tick = 0
        self.cache = None

    def cache_age(self) -> Optional[int]:
        """Age of the cache at the current tick (ticks since its own refresh tick); None if missing."""
        if self.cache is None or self.cache.created_tick is None:
            return None
        return self.tick - self.cache.created_tick

    def needs_refresh(self) -> bool:
        """Whether the UE must run at the current tick (cache missing, due by age, or stale).

        The decision reads only the cache's age, never ``tick % ue_interval``: with a caller that calls
        at ticks 1, 3, 5, ... and ``ue_interval=2`` the UE runs at every call, and after a forced
        (stale) refresh the next scheduled one comes ``ue_interval`` ticks later, not at the next
        multiple of ``ue_interval``.
        """
        age = self.cache_age()
        if age is None or age >= self.ue_interval:
            return True  # first tick (or after reset), or scheduled
        if self.max_cache_age is None or age <= self.max_cache_age:
            return False
        if self.on_stale == 'raise':
            raise StaleCacheError(
                f'AsyncScheduler: prefix cache is stale at tick {self.tick} (age {age} ticks, '
                f'max_cache_age={self.max_cache_age}) and on_stale="raise"'
            )
        return True

    def step(
        self, ue_fn: Callable[[int], PrefixKVCache], ae_fn: Callable[[PrefixKVCache], Any], tick: Optional[int] = None
    ) -> Dict[str, Any]:
        """Run one control tick.

        Args:
            ue_fn (Callable[[int], PrefixKVCache]): runs the UE for the given tick, returns the cache.
            ae_fn (Callable[[PrefixKVCache], Any]): runs the AE reading the cache.
            tick (int, optional): the caller's control tick (e.g. the closed-loop agent's, which may call
                the model only every few simulator ticks); the schedule and the cache age then follow that
                clock. Must not go backwards (call :meth:`reset` for a new route). None uses the
                scheduler's own count (one per call).

        Returns:
            dict: ``output`` (ae_fn's result), ``ue_ran`` (bool), ``cache_age`` (ticks),
            ``timings_ms`` (``ue`` and ``ae`` wall times in ms; ``ue`` 0 when it did not run), ``tick``.
        """
        if tick is not None:
            if tick < self.tick:
                raise ValueError(
                    f'AsyncScheduler: tick {tick} is before the current tick {self.tick}; '
                    'call reset() when a new route starts'
                )
            self.tick = int(tick)
        timings = {'ue': 0.0}
        ue_ran = self.needs_refresh()
        if ue_ran:
            t0 = time.perf_counter()
            self.cache = ue_fn(self.tick)
            self.cache.created_tick = self.tick  # the age counts from this refresh, whatever ue_fn reused
            timings['ue'] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        output = ae_fn(self.cache)
        timings['ae'] = (time.perf_counter() - t0) * 1e3
        result = dict(
            output=output, ue_ran=ue_ran, cache_age=self.cache.age(self.tick), timings_ms=timings, tick=self.tick
        )
        self.tick += 1
        return result
