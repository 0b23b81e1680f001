# Copyright (c) mmautomot contributors. All rights reserved.
"""Per-tick latency of the UE refresh modes (sync, inline, background) and of the AE alone, interleaved."""

import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from mmautomot.models.mot.ue_refresh import UERefreshPolicy

MODES = ('sync', 'inline', 'background')


def percentiles(ms: Sequence[float]) -> Dict[str, float]:
    """``p50`` / ``p95`` / ``p99`` / ``mean`` / ``max`` of a list of milliseconds."""
    a = np.asarray(ms, dtype=np.float64)
    return dict(
        p50=float(np.percentile(a, 50)),
        p95=float(np.percentile(a, 95)),
        p99=float(np.percentile(a, 99)),
        mean=float(a.mean()),
        max=float(a.max()),
    )


class _Threads:
    """``torch.set_num_threads`` for the caller's thread within a block (per thread with OpenMP)."""

    def __init__(self, n: Optional[int]):
        self.n, self.old = n, None

    def __enter__(self):
        if self.n is not None:
            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.old is not None:
            torch.set_num_threads(self.old)


def measure_tick_latency(
    ue_fn: Callable,
    ae_fn: Callable,
    ticks: int = 40,
    ue_interval: int = 2,
    block: int = 8,
    warmup: int = 1,
    threads: Optional[int] = None,
    ae_threads: Optional[int] = None,
    ue_threads: Optional[int] = None,
) -> Dict[str, dict]:
    """Time whole control ticks (``UERefreshPolicy.step``: UE wait + AE) in each mode, interleaved.

    Each mode runs ``block`` ticks in turn (sync, inline, background, AE alone) until every mode has
    run ``ticks`` timed ticks (after ``warmup`` blocks), so load drifts of a shared machine hit all of
    them alike. A background refresh still in flight at the end of a block is waited for (untimed)
    before the next mode runs, so the worker never steals time from another mode's ticks; the ticks of
    each mode follow one clock across its blocks.

    Args:
        ue_fn (Callable[[int, PrefixKVCache | None], PrefixKVCache]): the UE refresh (see
            :class:`UERefreshPolicy`).
        ae_fn (Callable[[PrefixKVCache], Any]): the AE tick (plus refiner, if any).
        ticks (int): timed ticks per mode.
        ue_interval (int): UE refresh interval (inline and background) in ticks.
        block (int): ticks per mode per turn.
        warmup (int): untimed turns first.
        threads (int | None): intra-op threads of the control thread in the sync / inline modes;
            None keeps the current setting.
        ae_threads / ue_threads (int | None): the background split: the control thread's (AE) and the
            worker's (UE) intra-op threads. The AE-alone ticks use ``ae_threads``.

    Returns:
        dict: per mode (``sync``, ``inline``, ``background``, ``ae_only``) ``tick_ms`` (list),
        ``p50``/``p95``/``p99``/``mean``/``max`` (ms), and for the three modes ``cache_age`` (list, ticks),
        ``waited`` (ticks that waited for the UE) and ``in_flight`` (ticks whose AE ran while a
        background refresh was in flight).
    """
    policies = {m: UERefreshPolicy(mode=m, ue_interval=ue_interval, worker_threads=ue_threads) for m in MODES}
    rows: Dict[str, List[dict]] = {m: [] for m in (*MODES, 'ae_only')}
    ae_cache = ue_fn(0, None)
    ae_cache.created_tick = 0
    turns = warmup + -(-ticks // block)
    try:
        with torch.no_grad():
            for turn in range(turns):
                for mode in (*MODES, 'ae_only'):
                    timed = turn >= warmup
                    n_thr = ae_threads if mode in ('background', 'ae_only') else threads
                    with _Threads(n_thr):
                        for _ in range(block):
                            t0 = time.perf_counter()
                            if mode == 'ae_only':
                                ae_fn(ae_cache)
                                res = None
                            else:
                                res = policies[mode].step(ue_fn, ae_fn)
                            ms = (time.perf_counter() - t0) * 1e3
                            if timed and len(rows[mode]) < ticks:
                                rows[mode].append(dict(ms=ms, res=res))
                        if mode == 'background':
                            policies[mode].drain()
    finally:
        for p in policies.values():
            p.close()
    out: Dict[str, dict] = {}
    for mode, rs in rows.items():
        ms = [r['ms'] for r in rs]
        entry = dict(percentiles(ms), tick_ms=[round(m, 3) for m in ms])
        if mode != 'ae_only':
            entry.update(
                cache_age=[r['res']['cache_age'] for r in rs],
                waited=sum(r['res']['timings_ms']['ue'] > 0 for r in rs),
                in_flight=sum(bool(r['res']['refresh_in_flight']) for r in rs),
            )
        out[mode] = entry
    return out
