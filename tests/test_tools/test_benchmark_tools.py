# Copyright (c) mmautomot contributors. All rights reserved.
"""tools/analysis_tools/benchmark_latency.py and count_params.py on the tiny AutoMoT config."""

import importlib.util
import json
import os
import os.path as osp

import pytest
import torch

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOLS = osp.join(ROOT, 'tools', 'analysis_tools')
TINY = osp.join(ROOT, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_nuscenes-e2e.py')
needs_tiny = pytest.mark.skipif(not osp.isfile(TINY), reason=f'tiny AutoMoT config missing: {TINY}')


def _load(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load('benchmark_latency')
counter = _load('count_params')


class _ParamViewModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.query = torch.nn.Parameter(torch.randn(3, 8))
        self.lin = torch.nn.Linear(8, 4)

    def forward(self):
        return self.lin(self.query[None])  # a view of a parameter as a module input


def test_count_gflop_and_param_views_under_no_grad():
    model = _ParamViewModule()
    with torch.no_grad():
        gflop = bench.count_gflop(model, model)
    assert gflop * 1e9 == 2 * 3 * 8 * 4
    assert model.query.requires_grad and model.lin.weight.requires_grad  # flags restored


def test_median_times_and_matmul():
    calls = []
    out = bench.median_times(dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')), 3, 1, torch.device('cpu'))
    assert calls == ['a', 'b'] * 4  # warm-up + 3 timed rounds, interleaved
    assert set(out) == {'a', 'b'} and all(v >= 0 for v in out.values())
    assert bench.measure_matmul_gflops(torch.device('cpu'), n=128, iters=2) > 0


@needs_tiny
def test_count_params_tiny(tmp_path):
    out = tmp_path / 'params.json'
    res = counter.main([TINY, '--json', str(out)])
    meta = counter.main([TINY, '--meta'])
    for key in ('ue_params', 'ae_params', 'total_params'):
        assert res[key] > 0 and res[key] == meta[key]
    assert res['ue_params'] + res['ae_params'] <= res['total_params']
    assert meta['meta'] is True and res['meta'] is False
    assert json.loads(out.read_text())['total_params'] == res['total_params']


@needs_tiny
def test_benchmark_latency_tiny(tmp_path):
    out = tmp_path / 'latency.json'
    res = bench.main(
        [TINY, '--iters', '2', '--warmup', '1', '--num-points', '500', '--json', str(out)]
        + ['--ticks', '4', '--block', '2']
    )
    saved = json.loads(out.read_text())
    for key in (
        'ue_ms',
        'ae_ms',
        'sync_ms',
        'async_ms',
        'speedup',
        'ae_nocache_ms',
        'ae_core_ms',
        'ae_core_nocache_ms',
        'cache_overhead',
        'core_cache_overhead',
        'ae_gflop',
        'ue_gflop',
        'matmul_gflops',
        'ue_params',
        'ae_params',
        'total_params',
    ):
        assert saved[key] is not None and saved[key] > 0, key
    assert res['speedup'] == pytest.approx(res['sync_ms'] / res['async_ms'])
    assert res['cpu_count'] == os.cpu_count() and res['loadavg_1m_before'] >= 0 and res['matmul_gflops'] > 0
    assert res['cache_overhead'] == pytest.approx(res['async_ms'] / res['ae_nocache_ms'])
    assert res['async_amortized_ms'] == pytest.approx(res['async_ms'] + res['ue_ms'] / res['ue_interval'])
    assert res['input_shapes']['num_points'] == 500
    assert res['ue_tokens'] > 0
    tick = saved['tick_latency']
    assert set(tick) >= {'sync', 'inline', 'background', 'ae_only', 'target_ratio', 'threads'}
    assert all(len(tick[m]['tick_ms']) == 4 and tick[m]['p50'] <= tick[m]['p99'] for m in ('sync', 'ae_only'))
    assert tick['sync']['cache_age'] == [0] * 4 and tick['sync']['waited'] == 4
    assert tick['inline']['cache_age'] == [0, 1] * 2 and tick['inline']['waited'] == 2
    assert tick['background']['waited'] == 0 and tick['background']['in_flight'] >= 1  # never waits after warm-up
    assert tick['target_ratio'] == pytest.approx(tick['background']['p99'] / tick['ae_only']['p50'])


@needs_tiny
def test_plain_kv_matches_cache():
    """The no-cache baseline computes exactly what the cached AE pass computes."""
    from mmautomot.apis import init_model, load_config

    cfg = load_config(TINY)
    model = init_model(cfg)
    ns = bench.parse_args([TINY, '--num-points', '200'])
    batch = bench.synthetic_batch(bench.input_shapes(cfg, model, ns))
    inputs = model.data_preprocessor(batch, False)['inputs']
    with torch.no_grad():
        cache = model.ue_tick(inputs)
        core, nocache = bench._ae_core_fns(model, inputs, cache)
        assert core is not None
        torch.testing.assert_close(core(), nocache())
        # the whole AE tick also runs on the plain K/V holder and gives the same outputs
        with_cache, plain = model.ae_tick(inputs, cache), model.ae_tick(inputs, bench.PlainKV(cache))
        for key in ('path', 'waypoints', 'meta_action_logits'):
            torch.testing.assert_close(with_cache[key], plain[key])
