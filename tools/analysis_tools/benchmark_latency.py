# Copyright (c) mmautomot contributors. All rights reserved.
"""Measure AutoMoT's synchronous and asynchronous inference latency in one run (batch 1).

Usage::

    python tools/analysis_tools/benchmark_latency.py CONFIG [--checkpoint CKPT] [--iters N] [--warmup N]
        [--json OUT] [--device cpu] [--ue-interval K] [--img-hist-shape N H W] [--imgs-shape N H W]
        [--num-points N] [--cfg-options k=v ...]

Measured (medians over ``--iters`` timed iterations after ``--warmup``), paper layout (AutoMoT, RTX 5090:
UE 80.3 + AE 37.0 = 117.3 ms sync / 37.0 ms async):

* ``ue_ms``: ``model.ue_tick(inputs, cache)`` (understanding expert, fills the prefix KV cache);
* ``ae_ms``: ``model.ae_tick(inputs, cache)`` (BEV encoder, AE tokens, AE layers reading the cache, heads);
* ``refiner_ms``: ``model.refiner_tick(inputs, ae_out)`` when ``model.has_refiner``, else None;
* ``sync_ms``: one synchronous tick, UE then AE (then refiner) measured back to back;
* ``async_ms``: one asynchronous control tick = AE (+ refiner) against a ready cache (the UE refresh runs
  off the control path); ``async_amortized_ms`` = ``async_ms + ue_ms / ue_interval`` is the mean cost per
  tick if UE and AE share one device; ``speedup`` = ``sync_ms / async_ms``; ``*_hz`` = 1000 / ms;
* ``ae_nocache_ms``: the same asynchronous control tick as ``async_ms`` (BEV encoder, AE tokens, AE layers,
  heads, refiner if any) with the UE keys/values given as plain contiguous tensors (:class:`PlainKV`, copied
  from the cache once, outside the timed region) instead of the cache object; ``cache_overhead`` =
  ``async_ms / ae_nocache_ms``;
* ``ae_core_ms`` / ``ae_core_nocache_ms``: the AE transformer alone over the same tokens, reading the cache
  object vs. plain tensors (``model.ae_tick_nocache`` when the model has it, else ``model.mot.ae_step``);
  ``core_cache_overhead`` is their ratio (the cache cost without the BEV encoder diluting it);
* ``ue_gflop`` / ``ae_gflop``: FLOPs of one tick counted with ``torch.utils.flop_counter.FlopCounterMode``
  (a multiply-add = 2 FLOPs);
* ``matmul_gflops``: this machine's dense fp32 matmul throughput, measured in the same run, so that
  numbers from different machines can be compared.

Input shapes (batch 1): ``--img-hist-shape``/``--imgs-shape``/``--num-points``, else the config's
``benchmark_inputs=dict(img_hist=(N, H, W), imgs=(N, H, W), num_points=N)``, else the model's UE
(``num_frames``, ``image_size``), the config's ``cam_size`` (W, H) and ``cam_names`` (else the BEV
encoder's ``num_cams`` and the UE image size) and 20000 points. ``--ue-interval`` defaults to the config's
``ue_refresh.ue_interval``.

Per-tick latency of the UE refresh modes (``--ticks N``, default 24; 0 skips it), in the same run after
the medians above, interleaved in blocks of ``--block`` ticks (:func:`mmautomot.apis.tick_latency.
measure_tick_latency`): ``tick_latency`` holds, for ``sync`` (UE + AE every tick, AutoMoT-S), ``inline``
(UE in the control thread every ``ue_interval`` ticks), ``background`` (UE in a worker thread into a second
cache) and ``ae_only`` (the AE tick on a ready cache), the per-tick ms and their p50/p95/p99, the cache age
of every tick, and the ticks that waited for the UE. ``target_ratio`` = background p99 / AE-only median
(issue target <= 1.3). Thread split: the control thread runs sync/inline with ``--threads`` (default: the
current torch setting) and the background AE with ``--ae-threads``, the worker's UE with ``--ue-threads``
(defaults: half the CPUs each, at least 1). The ``tick_latency`` section is also printed as JSON.
"""

import argparse
import inspect
import json
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import DictAction
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmautomot.apis import count_params, init_model, load_config  # noqa: E402

PAPER_MS = dict(ue=80.3, ae=37.0, sync=117.3, async_=37.0, refiner=26.0)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def median_times(
    fns: Dict[str, Callable[[], object]], iters: int, warmup: int, device: torch.device
) -> Dict[str, float]:
    """Median wall time in ms of each callable, the callables run round-robin within each iteration.

    Interleaving keeps the comparison fair when the machine's load drifts during the run.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(max(1, iters)):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: float(statistics.median(t)) for name, t in times.items()}


def count_gflop(fn: Callable[[], object], model: torch.nn.Module) -> float:
    """GFLOP of one call of ``fn`` (FlopCounterMode: matmul, conv, attention).

    The model's parameters are set to ``requires_grad=False`` while counting: FlopCounterMode's module
    tracker fails on module inputs that are views of trainable parameters made under ``no_grad``.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    counter = FlopCounterMode(display=False)
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        with counter:
            fn()
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    return counter.get_total_flops() / 1e9


def measure_matmul_gflops(device: torch.device, n: int = 1024, iters: int = 5) -> float:
    """Dense fp32 ``n x n`` matmul throughput (GFLOP/s, median)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    ms = median_times(dict(mm=lambda: a @ b), iters, 1, device)['mm']
    return 2 * n**3 / (ms * 1e-3) / 1e9


def input_shapes(cfg, model, args) -> Dict[str, object]:
    """Batch-1 input shapes ``(N, H, W)`` from the CLI, the config or the model (see the module doc)."""
    given = dict(cfg.get('benchmark_inputs', {}) or {})
    ue = getattr(getattr(model, 'mot', None), 'ue', None)
    hist_wh = cfg.get('hist_size')  # config convention: (W, H)
    ue_size = tuple(getattr(ue, 'image_size', None) or (hist_wh[::-1] if hist_wh else (256, 512)))
    n_frames = int(getattr(ue, 'num_frames', 4))
    cam_wh = cfg.get('cam_size')
    cam_size = tuple(cam_wh[::-1]) if cam_wh else ue_size
    n_cams = len(cfg.get('cam_names', [])) or int(getattr(getattr(model, 'bev_encoder', None), 'num_cams', 1))
    shapes = dict(
        img_hist=tuple(args.img_hist_shape or given.get('img_hist') or (n_frames, *ue_size)),
        imgs=tuple(args.imgs_shape or given.get('imgs') or (n_cams, *cam_size)),
        num_points=int(args.num_points or given.get('num_points') or 20000),
    )
    for key in ('img_hist', 'imgs'):
        if len(shapes[key]) != 3:
            raise ValueError(f'benchmark_latency: {key} shape must be (N, H, W), got {shapes[key]}')
    return shapes


def synthetic_batch(shapes: Dict[str, object], seed: int = 0) -> List[dict]:
    """One pipeline output (``PackDrivingInputs`` layout) with random images and a random cloud."""
    from mmautomot.structures import COMMANDS, DrivingDataSample

    g = torch.Generator().manual_seed(seed)
    n_hist, h_hist, w_hist = shapes['img_hist']
    n_cam, h_cam, w_cam = shapes['imgs']
    n_pts = shapes['num_points']
    points = torch.rand(n_pts, 4, generator=g)
    points[:, :2] = points[:, :2] * 64 - 32  # x, y in [-32, 32) m
    points[:, 2] = points[:, 2] * 4 - 1  # z in [-1, 3) m
    inputs = dict(
        img_hist=torch.randint(0, 256, (n_hist, 3, h_hist, w_hist), generator=g, dtype=torch.uint8),
        imgs=torch.randint(0, 256, (n_cam, 3, h_cam, w_cam), generator=g, dtype=torch.uint8),
        points=points,
        ego_status=torch.tensor([6.0, 0.0, 0.0, 0.0]),
        ego_hist_trajs=torch.tensor([[-6.0, 0.0], [-4.5, 0.0], [-3.0, 0.0], [-1.5, 0.0]]),
        target_point=torch.tensor([25.0, 0.0]),
        command=torch.tensor(COMMANDS.index('lane_follow')),
    )
    sample = DrivingDataSample(metainfo=dict(sample_idx=0, token='benchmark', dataset='synthetic'))
    return [dict(inputs=inputs, data_samples=sample)]


class PlainKV:
    """UE keys/values of every layer as plain contiguous tensors (the no-cache baseline).

    Exposes only what an AE pass reads (``get``, ``valid``, ``length``, ``next_position``, ``batch_size``);
    built by copying a filled cache once, outside the timed region.
    """

    def __init__(self, cache) -> None:
        n_layers = cache.num_layers
        pairs = [cache.get(i) for i in range(n_layers)]
        self.keys = [k.contiguous().clone() for k, _ in pairs]
        self.values = [v.contiguous().clone() for _, v in pairs]
        self._valid = cache.valid().clone()
        self.length = int(cache.length)
        self.next_position = cache.next_position.clone()
        self.batch_size = int(cache.batch_size)

    def get(self, layer_idx: int):
        return self.keys[layer_idx], self.values[layer_idx]

    def valid(self):
        return self._valid


def _ae_core_fns(model, inputs, cache):
    """(with-cache, no-cache) callables running the AE transformer alone, or (None, None)."""
    if hasattr(model, 'ae_tick_nocache'):
        kv = PlainKV(cache)
        return (lambda: model.ae_tick(inputs, cache)), (lambda: model.ae_tick_nocache(inputs, kv))
    mot = getattr(model, 'mot', None)
    if mot is None or not hasattr(mot, 'ae_step') or not hasattr(model, 'ae_inputs'):
        return None, None
    ae_hidden = model.ae_inputs(inputs)
    groups = model.tokens.group_sizes
    kv = PlainKV(cache)
    return (lambda: mot.ae_step(ae_hidden, cache, groups)), (lambda: mot.ae_step(ae_hidden, kv, groups))


def run_benchmark(
    model, batch: List[dict], iters: int, warmup: int, ue_interval: int, device: torch.device
) -> Dict[str, Optional[float]]:
    """Time and count the UE, AE, refiner, sync and async ticks of ``model`` on one batch."""
    for name in ('ue_tick', 'ae_tick'):
        if not hasattr(model, name):
            raise AttributeError(
                f'benchmark_latency: {type(model).__name__} has no {name}(); the model must '
                'expose ue_tick(inputs) -> cache and ae_tick(inputs, cache) -> dict'
            )
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    takes_cache = 'cache' in inspect.signature(model.ue_tick).parameters
    refiner = model.refiner_tick if getattr(model, 'has_refiner', False) else None
    res: Dict[str, Optional[float]] = {}
    with torch.no_grad():
        cache = model.ue_tick(inputs)
        ue_call = (lambda: model.ue_tick(inputs, cache=cache)) if takes_cache else (lambda: model.ue_tick(inputs))

        def ae_call():
            out = model.ae_tick(inputs, cache)
            return refiner(inputs, out) if refiner is not None else out

        def sync_call():
            c = ue_call()
            out = model.ae_tick(inputs, c)
            return refiner(inputs, out) if refiner is not None else out

        ae_out = model.ae_tick(inputs, cache)
        fns = dict(ue_ms=ue_call, ae_ms=lambda: model.ae_tick(inputs, cache), sync_ms=sync_call)
        if refiner is not None:
            fns.update(refiner_ms=lambda: refiner(inputs, ae_out), async_ms=ae_call)
        plain_kv = PlainKV(cache)

        def ae_nocache_call():
            out = model.ae_tick(inputs, plain_kv)
            return refiner(inputs, out) if refiner is not None else out

        fns['ae_nocache_ms'] = ae_nocache_call
        core, core_nocache = _ae_core_fns(model, inputs, cache)
        if core is not None:
            fns.update(ae_core_ms=core, ae_core_nocache_ms=core_nocache)
        res.update(dict(refiner_ms=None, ae_core_ms=None, ae_core_nocache_ms=None))
        res.update(median_times(fns, iters, warmup, device))
        if refiner is None:
            res['async_ms'] = res['ae_ms']  # the async control tick is the AE tick itself
        res['cache_overhead'] = res['async_ms'] / res['ae_nocache_ms']
        res['core_cache_overhead'] = (
            res['ae_core_ms'] / res['ae_core_nocache_ms'] if res['ae_core_ms'] is not None else None
        )
        res['async_amortized_ms'] = res['async_ms'] + res['ue_ms'] / ue_interval
        res['speedup'] = res['sync_ms'] / res['async_ms']
        res['sync_hz'] = 1e3 / res['sync_ms']
        res['async_hz'] = 1e3 / res['async_ms']
        res['ue_gflop'] = count_gflop(ue_call, model)
        res['ae_gflop'] = count_gflop(lambda: model.ae_tick(inputs, cache), model)
        res['refiner_gflop'] = count_gflop(lambda: refiner(inputs, ae_out), model) if refiner is not None else None
        res['ue_tokens'] = int(getattr(cache, 'length', 0)) or None
    res['matmul_gflops'] = measure_matmul_gflops(device)
    res['ue_interval'] = ue_interval
    return res


def run_tick_benchmark(model, batch: List[dict], args: argparse.Namespace, ue_interval: int) -> dict:
    """Per-tick latency of sync / inline / background UE refresh and of the AE alone (see the module doc)."""
    from mmautomot.apis.tick_latency import measure_tick_latency

    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    refiner = model.refiner_tick if getattr(model, 'has_refiner', False) else None
    takes_cache = 'cache' in inspect.signature(model.ue_tick).parameters

    def ue_fn(tick, cache):
        return model.ue_tick(inputs, cache=cache, tick=tick) if takes_cache else model.ue_tick(inputs)

    def ae_fn(cache):
        out = model.ae_tick(inputs, cache)
        return refiner(inputs, out) if refiner is not None else out

    cpus = os.cpu_count() or 1
    ae_threads = args.ae_threads or max(1, cpus // 2)
    ue_threads = args.ue_threads or max(1, cpus - ae_threads)
    res = measure_tick_latency(
        ue_fn,
        ae_fn,
        ticks=args.ticks,
        ue_interval=ue_interval,
        block=args.block,
        threads=args.threads,
        ae_threads=ae_threads,
        ue_threads=ue_threads,
    )
    res['threads'] = dict(sync_inline=args.threads or torch.get_num_threads(), ae=ae_threads, ue_worker=ue_threads)
    res['target_ratio'] = res['background']['p99'] / res['ae_only']['p50']
    res['ue_interval'] = ue_interval
    return res


def tick_summary(tick: dict) -> dict:
    """The tick benchmark without the per-tick ms lists (what the tool prints)."""
    out = {}
    for key, val in tick.items():
        out[key] = {k: v for k, v in val.items() if k != 'tick_ms'} if isinstance(val, dict) else val
    return out


def _fmt(v: Optional[float], spec: str = '8.1f') -> str:
    return f'{v:{spec}}' if v is not None else f'{"-":>8}'


def format_table(res: dict) -> str:
    """The paper's latency table (ours next to AutoMoT's RTX 5090 numbers)."""
    rows = [
        ('Understanding expert (UE)', res['ue_ms'], PAPER_MS['ue']),
        ('Action expert (AE)', res['ae_ms'], PAPER_MS['ae']),
        ('Action refiner', res['refiner_ms'], PAPER_MS['refiner']),
        ('Sync total (UE + AE)', res['sync_ms'], PAPER_MS['sync']),
        ('Async total (AE, cached UE)', res['async_ms'], PAPER_MS['async_']),
    ]
    lines = [f'{"stage":<30}{"ours ms":>10}{"Hz":>8}{"paper ms":>10}']
    for name, ms, paper in rows:
        hz = 1e3 / ms if ms else None
        lines.append(f'{name:<30}{_fmt(ms, "10.1f")}{_fmt(hz)}{paper:>10.1f}')
    lines.append(
        f'speedup sync/async: {res["speedup"]:.2f}x (paper {PAPER_MS["sync"] / PAPER_MS["async_"]:.2f}x)'
        f'; amortised async tick (UE every {res["ue_interval"]}): {res["async_amortized_ms"]:.1f} ms'
    )
    lines.append(
        f'async tick with plain K/V instead of the cache: {_fmt(res["ae_nocache_ms"], ".2f")} ms '
        f'(cache_overhead {res["cache_overhead"]:.3f}); AE transformer alone: cache '
        f'{_fmt(res["ae_core_ms"], ".2f")} ms, plain K/V {_fmt(res["ae_core_nocache_ms"], ".2f")} ms'
    )
    lines.append(
        f'GFLOP per tick: UE {res["ue_gflop"]:.3f}, AE {res["ae_gflop"]:.3f}; '
        f'fp32 matmul {res["matmul_gflops"]:.1f} GFLOP/s on {res.get("device", "cpu")}'
    )
    if 'loadavg_1m_before' in res:
        lines.append(
            f'machine: {res["cpu_count"]} CPUs, {res.get("torch_threads")} torch threads, 1-min load average '
            f'{res["loadavg_1m_before"]:.2f} before / {res["loadavg_1m_after"]:.2f} after the run'
        )
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark AutoMoT latency (sync vs async)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='checkpoint file')
    parser.add_argument('--iters', type=int, default=20, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=3, help='untimed warm-up iterations')
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--ue-interval',
        type=int,
        help='UE refresh interval in AE ticks for the amortised number and the tick benchmark '
        '(default: the config ue_refresh.ue_interval, else 2)',
    )
    parser.add_argument('--ticks', type=int, default=24, help='timed ticks per UE refresh mode (0: skip)')
    parser.add_argument('--block', type=int, default=4, help='ticks per mode per interleaved turn')
    parser.add_argument('--threads', type=int, help='torch threads of the sync / inline ticks')
    parser.add_argument('--ae-threads', type=int, help='torch threads of the background AE (control thread)')
    parser.add_argument('--ue-threads', type=int, help='torch threads of the background UE worker')
    parser.add_argument('--img-hist-shape', type=int, nargs=3, metavar=('N', 'H', 'W'))
    parser.add_argument('--imgs-shape', type=int, nargs=3, metavar=('N', 'H', 'W'))
    parser.add_argument('--num-points', type=int)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    np.random.seed(0)
    device = torch.device(args.device)
    cfg = load_config(args.config, args.cfg_options)
    policy = cfg.get('ue_refresh') or cfg.get('scheduler') or {}  # 'scheduler': its deprecated name
    ue_interval = args.ue_interval or int(policy.get('ue_interval', 2))
    if ue_interval < 1:
        raise ValueError(f'--ue-interval must be >= 1, got {ue_interval}')
    model = init_model(cfg, args.checkpoint, device=str(device))
    shapes = input_shapes(cfg, model, args)
    load_before = os.getloadavg()
    batch = synthetic_batch(shapes)
    res = run_benchmark(model, batch, args.iters, args.warmup, ue_interval, device)
    if args.ticks > 0:
        res['tick_latency'] = run_tick_benchmark(model, batch, args, ue_interval)
    # the machine's state beside the timings: other processes' load skews every number on a shared machine
    res.update(loadavg_1m_before=load_before[0], loadavg_1m_after=os.getloadavg()[0], cpu_count=os.cpu_count())
    res.update(count_params(model))
    res.update(
        device=str(device),
        iters=args.iters,
        warmup=args.warmup,
        config=osp.abspath(args.config),
        input_shapes={k: list(v) if isinstance(v, Sequence) else v for k, v in shapes.items()},
        torch_threads=torch.get_num_threads(),
    )
    print(format_table(res))
    if 'tick_latency' in res:
        summary = tick_summary(res['tick_latency'])
        print('{\n' + ',\n'.join(f' {json.dumps(k)}: {json.dumps(v)}' for k, v in summary.items()) + '\n}')
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    main()
