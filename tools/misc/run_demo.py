# Copyright (c) mmautomot contributors. All rights reserved.
"""The end-to-end demo on built-in synthetic nuScenes data (called by ``tools/run_demo.sh``).

Steps (each a subprocess of the project's own tools, so the demo exercises exactly what users run):
1. ``tools/misc/make_synthetic_nuscenes.py``: a small dataset in the nuScenes v1.0 schema.
2. ``tools/create_data.py nuscenes``: info pkls with planning fields.
3. ``tools/train.py`` + ``tools/test.py`` for the tiny AutoMoT and the baselines (constant velocity,
   ego-status MLP); ``test.py`` writes ``test_metrics.json`` (both protocols) and, for AutoMoT, BEV and
   camera plots (``--show-dir``).
4. ``tools/analysis_tools/benchmark_latency.py`` and ``count_params.py`` on the tiny AutoMoT.
5. A summary table (``summary.json`` + printed), models side by side.
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA_ROOT = 'data/nuscenes-synthetic'
AUTOMOT_CFG = 'projects/automot/configs/automot_tiny_1xb4-600i_nuscenes-synthetic.py'
LATENCY_CFG = 'projects/automot/configs/automot_small_1xb4-12e_nuscenes-e2e.py'
MODELS = [
    # (name, config, trainable)
    ('AutoMoT-tiny', AUTOMOT_CFG, True),
    ('ConstantVelocity', 'configs/baselines/constant-velocity_tiny_nuscenes.py', False),
    ('EgoMLP', 'configs/baselines/ego-mlp_tiny_1xb8-200i_nuscenes.py', True),
]
KEYS = ['L2_1s', 'L2_2s', 'L2_3s', 'L2_avg', 'CR_1s', 'CR_2s', 'CR_3s', 'CR_avg']


def run(cmd, log_file):
    """Run one step, streaming its output to the console and a log file; fail loudly."""
    print(f'\n$ {" ".join(cmd)}', flush=True)
    t0 = time.time()
    with open(log_file, 'w') as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, 'PYTHONPATH': REPO},
        )
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        proc.wait()
    if proc.returncode != 0:
        raise SystemExit(
            f'[demo] step failed (exit {proc.returncode}) after {time.time() - t0:.0f}s: '
            f'{" ".join(cmd)}\n[demo] full log: {log_file}'
        )
    print(f'[demo] step done in {time.time() - t0:.0f}s', flush=True)


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='outputs/demo')
    parser.add_argument('--scenes', type=int, default=20, help='synthetic scenes (4 of 5 train)')
    parser.add_argument('--keyframes', type=int, default=20, help='keyframes (2 Hz) per scene')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    out = osp.abspath(args.out)
    os.makedirs(osp.join(out, 'logs'), exist_ok=True)
    py = sys.executable
    t_start = time.time()

    data_root = osp.join(REPO, DATA_ROOT)
    # v1.0-trainval scene names: v1.0-mini has only 10 official names.
    run(
        [
            py,
            'tools/misc/make_synthetic_nuscenes.py',
            '--out',
            data_root,
            '--scenes',
            str(args.scenes),
            '--keyframes',
            str(args.keyframes),
            '--seed',
            str(args.seed),
            '--version',
            'v1.0-trainval',
        ],
        osp.join(out, 'logs', 'make_data.log'),
    )
    run(
        [
            py,
            'tools/create_data.py',
            'nuscenes',
            '--root-path',
            data_root,
            '--out-dir',
            data_root,
            '--version',
            'v1.0-trainval',
        ],
        osp.join(out, 'logs', 'create_data.log'),
    )

    results = {}
    for name, cfg, trainable in MODELS:
        work_dir = osp.join(out, name)
        if trainable:
            run([py, 'tools/train.py', cfg, '--work-dir', work_dir], osp.join(out, 'logs', f'train_{name}.log'))
            ckpt = last_checkpoint(work_dir)
        else:
            ckpt = None
        test_cmd = [py, 'tools/test.py', cfg] + ([ckpt] if ckpt else []) + ['--work-dir', work_dir]
        if name.startswith('AutoMoT'):
            test_cmd += ['--show-dir', osp.join(out, 'plots')]
        run(test_cmd, osp.join(out, 'logs', f'test_{name}.log'))
        with open(osp.join(work_dir, 'test_metrics.json')) as f:
            results[name] = json.load(f)

    # Latency on the small config (paper proportions: UE 2.9x the AE): on the tiny config the UE is too small
    # for asynchrony to pay. Stages run interleaved; the machine's matmul throughput and load are recorded.
    run(
        [
            py,
            'tools/analysis_tools/benchmark_latency.py',
            LATENCY_CFG,
            '--iters',
            '10',
            '--json',
            osp.join(out, 'latency.json'),
        ],
        osp.join(out, 'logs', 'latency.log'),
    )
    run(
        [py, 'tools/analysis_tools/count_params.py', AUTOMOT_CFG, '--json', osp.join(out, 'params.json')],
        osp.join(out, 'logs', 'params.log'),
    )

    summary = dict(models=results, elapsed_s=round(time.time() - t_start, 1))
    with open(osp.join(out, 'latency.json')) as f:
        summary['latency'] = json.load(f)
    lines = []
    for proto in ('stp3', 'uniad'):
        lines.append(f'\nnuScenes-synthetic val, {proto} protocol (L2 in m, CR in %)')
        lines.append(f'{"model":<18}' + ''.join(f'{k:>9}' for k in KEYS))
        for name, metrics in results.items():
            lines.append(f'{name:<18}' + ''.join(f'{metrics.get(f"{proto}/{k}", float("nan")):>9.3f}' for k in KEYS))
    lat = summary['latency']
    lines.append(
        f'\nAutoMoT-small latency (random weights, CPU, batch 1, stages interleaved): '
        f'UE {lat["ue_ms"]:.0f} ms, '
        f'AE {lat["ae_ms"]:.0f} ms, sync {lat["sync_ms"]:.0f} ms, async {lat["async_ms"]:.0f} ms, '
        f'speedup {lat["speedup"]:.2f}x'
    )
    lines.append(
        f'  machine: fp32 matmul {lat["matmul_gflops"]:.1f} GFLOP/s, {lat["cpu_count"]} CPUs, 1-min load '
        f'{lat["loadavg_1m_before"]:.2f} before / {lat["loadavg_1m_after"]:.2f} after (a busy machine '
        'inflates every number)'
    )
    am, cv = results['AutoMoT-tiny'], results['ConstantVelocity']
    beats = am['stp3/L2_avg'] < cv['stp3/L2_avg']
    summary['automot_beats_constant_velocity_l2'] = bool(beats)
    lines.append(
        f'AutoMoT-tiny beats constant velocity on stp3 L2 avg: {beats} '
        f'({am["stp3/L2_avg"]:.3f} vs {cv["stp3/L2_avg"]:.3f} m)'
    )
    lines.append(f'Outputs: {out} (metrics per model, plots/, latency.json, params.json, summary.json)')
    text = '\n'.join(lines)
    print(text)
    with open(osp.join(out, 'summary.txt'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)


if __name__ == '__main__':
    main()
