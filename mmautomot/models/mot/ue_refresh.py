# Copyright (c) mmautomot contributors. All rights reserved.
"""When and where the understanding expert (UE) refreshes the prefix KV cache the action expert (AE) reads."""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, Optional

import torch

from mmautomot.registry import TASK_UTILS

from .prefix_kv_cache import PrefixKVCache

UEFn = Callable[[int, Optional[PrefixKVCache]], PrefixKVCache]


class StaleCacheError(RuntimeError):
    """The prefix cache is older than ``max_cache_age`` and the policy is set to refuse it."""


@TASK_UTILS.register_module()
class UERefreshPolicy:
    """Decide per control tick whether the understanding expert (UE) refreshes the prefix cache, and run it.

    Paper: AutoMoT asynchronous inference (the UE runs at a low rate in the background while the action
    expert reads its cached keys/values at every tick; AutoMoT-S runs both every tick). The released agent
    hard-codes a UE refresh every 2nd tick of a 20 Hz loop; here it is configurable.

    Modes:

    * ``'sync'`` (AutoMoT-S): the UE runs at every tick, in the caller's thread, before the AE.
    * ``'inline'``: the UE runs in the caller's thread whenever the cache is ``ue_interval`` ticks old and
      overwrites the current cache in place; a refresh tick costs UE + AE (deterministic; for debugging).
    * ``'background'``: when the cache is ``ue_interval`` ticks old, a worker thread runs the UE on that
      tick's inputs into a NEW cache object while the AE keeps ticking on the current one; the first tick
      after the new cache is complete swaps it in (under a lock). The AE takes a reference to the current
      cache at the start of its tick and reads only that, so it never sees a half-written cache. At most
      one refresh is in flight. The first tick (no cache) waits for the UE; so does a tick whose cache is
      older than ``max_cache_age`` (``on_stale='refresh'``). A worker exception is re-raised (the original
      exception and traceback) by the next :meth:`step`.

    Thread split (background): the worker and the AE run at the same time. With PyTorch's OpenMP backend
    ``torch.set_num_threads`` sets the calling thread's intra-op team size, so ``worker_threads`` (set
    inside the worker) and the caller's own ``torch.set_num_threads`` divide the cores, e.g. 1 + 1 on two
    cores (``tools/analysis_tools/benchmark_latency.py --ae-threads/--ue-threads``). MKL's own thread
    count is process-wide.

    Args:
        mode (str): ``'sync'``, ``'inline'`` or ``'background'``. Defaults to ``'inline'``.
        ue_interval (int): refresh once the cache is ``ue_interval`` ticks old (counted from the tick of
            the observation it was computed from, on the caller's clock), so irregular caller clocks
            (ticks 1, 3, 5, ... or jumps) keep refreshing and a forced refresh restarts the count. Ignored
            (1) in ``'sync'``. Defaults to 2.
        max_cache_age (int | None): largest allowed cache age in ticks when the AE runs; None = no limit.
            Defaults to None.
        on_stale (str): ``'refresh'`` (refresh now and wait for it) or ``'raise'``
            (:class:`StaleCacheError`) when the cache is older than ``max_cache_age``. A missing cache
            (first tick, after :meth:`reset`) always refreshes. Defaults to 'refresh'.
        worker_threads (int | None): intra-op threads of the background worker (``torch.set_num_threads``
            inside the worker thread); None leaves the default. Defaults to None.
        synchronous (bool | None): legacy switch, True = ``mode='sync'``. Defaults to None.

    ``ue_fn(tick, cache)`` passed to :meth:`step` runs the UE on the observation of ``tick`` and returns
    the filled cache: it may overwrite ``cache`` in place (``'sync'``/``'inline'``) and must allocate a new
    one when ``cache`` is None (what ``'background'`` always passes).
    """

    MODES = ('sync', 'inline', 'background')

    def __init__(
        self,
        mode: str = 'inline',
        ue_interval: int = 2,
        max_cache_age: Optional[int] = None,
        on_stale: str = 'refresh',
        worker_threads: Optional[int] = None,
        synchronous: Optional[bool] = None,
    ):
        name = type(self).__name__
        if synchronous:
            mode = 'sync'
        if mode not in self.MODES:
            raise ValueError(f'{name}: mode must be one of {self.MODES}, got {mode!r}')
        if ue_interval < 1:
            raise ValueError(f'{name}: ue_interval must be >= 1, got {ue_interval}')
        if on_stale not in ('refresh', 'raise'):
            raise ValueError(f"{name}: on_stale must be 'refresh' or 'raise', got {on_stale!r}")
        if max_cache_age is not None and max_cache_age < 0:
            raise ValueError(f'{name}: max_cache_age must be >= 0 or None, got {max_cache_age}')
        if worker_threads is not None and worker_threads < 1:
            raise ValueError(f'{name}: worker_threads must be >= 1 or None, got {worker_threads}')
        self.mode = mode
        self.ue_interval = 1 if mode == 'sync' else int(ue_interval)
        self.max_cache_age = max_cache_age
        self.on_stale = on_stale
        self.worker_threads = worker_threads
        self.tick = 0
        self.cache: Optional[PrefixKVCache] = None
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None
        self._pending: Optional[Future] = None

    @property
    def synchronous(self) -> bool:
        return self.mode == 'sync'

    # -- lifecycle ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """New route: wait for a refresh in flight (its result is dropped; an error in it is dropped too,
        since it concerns the old route) and forget the cache."""
        self._drop_pending()
        self.tick = 0
        with self._lock:
            self.cache = None

    def close(self) -> None:
        """Wait for a refresh in flight and stop the worker thread (the policy stays usable: the next
        background refresh starts a new worker)."""
        self._drop_pending()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __del__(self):  # best effort: never leave a worker behind a dropped policy
        ex = getattr(self, '_executor', None)
        if ex is not None:
            ex.shutdown(wait=False)

    def _drop_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.result()
            except Exception:  # noqa: BLE001 - the old route's refresh error is moot after reset
                pass

    # -- schedule ----------------------------------------------------------------------------------------

    def cache_age(self) -> Optional[int]:
        """Age of the current cache at the current tick (ticks since its observation); None if missing."""
        if self.cache is None or self.cache.created_tick is None:
            return None
        return self.tick - self.cache.created_tick

    def refresh_in_flight(self) -> bool:
        """Whether a background refresh has started and not yet been swapped in."""
        return self._pending is not None

    def _stale(self, age: int) -> bool:
        if self.max_cache_age is None or age <= self.max_cache_age:
            return False
        if self.on_stale == 'raise':
            raise StaleCacheError(
                f'{type(self).__name__}: prefix cache is stale at tick {self.tick} (age {age} ticks, '
                f'max_cache_age={self.max_cache_age}) and on_stale="raise"'
            )
        return True

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
        return self._stale(age)

    # -- background worker -------------------------------------------------------------------------------

    def _run_ue(self, ue_fn: UEFn, tick: int):
        if self.worker_threads is not None:
            torch.set_num_threads(self.worker_threads)  # this thread's OpenMP team (see the class doc)
        t0 = time.perf_counter()
        with torch.no_grad():  # grad mode is thread-local: the caller's no_grad does not reach this thread
            cache = ue_fn(tick, None)
        cache.created_tick = tick
        return cache, (time.perf_counter() - t0) * 1e3

    def _submit(self, ue_fn: UEFn) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='ue-refresh')
        self._pending = self._executor.submit(self._run_ue, ue_fn, self.tick)

    def _collect(self, wait: bool) -> Optional[float]:
        """Swap in a finished refresh (waiting for it when ``wait``); its worker ms, or None if none."""
        pending = self._pending
        if pending is None or not (wait or pending.done()):
            return None
        self._pending = None
        exc = pending.exception()
        if exc is not None:
            exc.add_note(f'(raised in the background UE refresh worker of {type(self).__name__})')
            raise exc
        cache, ms = pending.result()
        if cache is self.cache:
            raise RuntimeError(
                f'{type(self).__name__}: the background ue_fn returned the current cache; it must allocate a '
                'new one when called with cache=None (else the AE could read a half-written cache)'
            )
        with self._lock:
            self.cache = cache
        return ms

    # -- one tick ----------------------------------------------------------------------------------------

    def step(self, ue_fn: UEFn, ae_fn: Callable[[PrefixKVCache], Any], tick: Optional[int] = None) -> Dict[str, Any]:
        """Run one control tick.

        Args:
            ue_fn (Callable[[int, PrefixKVCache | None], PrefixKVCache]): runs the UE on this tick's
                observation (see the class doc for the ``cache`` argument).
            ae_fn (Callable[[PrefixKVCache], Any]): runs the AE reading the cache (read-only).
            tick (int, optional): the caller's control tick (e.g. the closed-loop agent's, which may call
                the model only every few simulator ticks); the schedule and the cache age follow that
                clock. Must not go backwards (call :meth:`reset` for a new route). None uses the policy's
                own count (one per call).

        Returns:
            dict: ``output`` (ae_fn's result), ``ue_ran`` (bool: a refresh started this tick, in the
            caller's thread or the worker), ``cache_age`` (ticks since the observation of the cache the
            AE was handed), ``cache_tick`` (that observation's tick), ``refresh_in_flight`` (bool, while
            the AE ran), ``swapped`` (bool: a background refresh was swapped in this tick), ``mode``,
            ``timings_ms`` (``ue``: ms the caller waited for the UE, 0 when it did not; ``ae``; in
            background mode also ``ue_worker``: the worker's time for a refresh swapped in this tick)
            and ``tick``.
        """
        if tick is not None:
            if tick < self.tick:
                raise ValueError(
                    f'{type(self).__name__}: tick {tick} is before the current tick {self.tick}; '
                    'call reset() when a new route starts'
                )
            self.tick = int(tick)
        timings = {'ue': 0.0}
        if self.mode == 'background':
            ue_ran, swapped = self._background_refresh(ue_fn, timings)
        else:
            ue_ran, swapped = self.needs_refresh(), False
            if ue_ran:
                t0 = time.perf_counter()
                self.cache = ue_fn(self.tick, self.cache)
                self.cache.created_tick = self.tick  # the age counts from this refresh, whatever ue_fn reused
                timings['ue'] = (time.perf_counter() - t0) * 1e3
        with self._lock:
            cache = self.cache  # the AE reads this object only, whatever is swapped in meanwhile
        in_flight = self.refresh_in_flight()
        t0 = time.perf_counter()
        output = ae_fn(cache)
        timings['ae'] = (time.perf_counter() - t0) * 1e3
        result = dict(
            output=output,
            ue_ran=ue_ran,
            cache_age=cache.age(self.tick),
            cache_tick=cache.created_tick,
            refresh_in_flight=in_flight,
            swapped=swapped,
            mode=self.mode,
            timings_ms=timings,
            tick=self.tick,
        )
        self.tick += 1
        return result

    def _background_refresh(self, ue_fn: UEFn, timings: dict):
        """Background mode before the AE: swap in a finished refresh, start a due one, wait if needed."""
        worker_ms = self._collect(wait=False)
        swapped = worker_ms is not None
        ue_ran = False
        age = self.cache_age()
        stale = age is not None and self._stale(age)
        if self._pending is None and (age is None or age >= self.ue_interval or stale):
            self._submit(ue_fn)
            ue_ran = True
        if age is None or stale:  # no cache yet, or too old to use: wait for the refresh
            t0 = time.perf_counter()
            worker_ms = self._collect(wait=True)
            if self._stale(self.cache_age()):  # the refresh that was in flight is itself too old
                self._submit(ue_fn)
                ue_ran = True
                worker_ms = self._collect(wait=True)
            timings['ue'] = (time.perf_counter() - t0) * 1e3
            swapped = True
        if worker_ms is not None:
            timings['ue_worker'] = worker_ms
        return ue_ran, swapped

    def drain(self) -> None:
        """Wait for a refresh in flight and swap it in (e.g. before timing something else)."""
        self._collect(wait=True)


_WARNED = set()


def warn_renamed(old: str, new: str) -> None:
    """Warn once per process that ``old`` is a deprecated name of ``new`` (issue 11: "scheduler" also names
    the diffusers schedulers and the LR schedules; the UE refresh policy got its own name)."""
    if old not in _WARNED:
        _WARNED.add(old)
        import warnings

        warnings.warn(f'{old} is deprecated, use {new} (the UE refresh policy)', FutureWarning, stacklevel=3)
