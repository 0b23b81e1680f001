# Copyright (c) mmautomot contributors. All rights reserved.
"""``tools/train.py`` and ``tools/test.py`` end to end (subprocesses, CPU, a few iterations).

Runs ``configs/baselines/ego-mlp_tiny_1xb8-200i_nuscenes.py`` (NuScenesE2EDataset + EgoMLPPlanner +
PlanningMetric) on a planning-only info pkl the test writes (its pipeline needs no images/LiDAR).
The self-contained toy config of ``tests/test_engine/toy_modules.py`` (``custom_imports``) is used
for the in-process FlexibleRunner check and by ``test_dist_train.py``.
"""

import glob
import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
ENGINE_TESTS = osp.join(REPO, 'tests', 'test_engine')
CONFIG = osp.join(REPO, 'configs', 'baselines', 'ego-mlp_tiny_1xb8-200i_nuscenes.py')
sys.path.insert(0, ENGINE_TESTS)
import planning_infos  # noqa: E402
import toy_modules  # noqa: E402

PROTOCOL_KEYS = {f'{p}/{m}_{t}' for p in ('stp3', 'uniad') for m in ('L2', 'CR') for t in ('1s', '2s', '3s', 'avg')}


def run_tool(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, ENGINE_TESTS]), MPLBACKEND='Agg', OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    )
    return proc.stdout + proc.stderr


def data_options(data_root):
    return [f'{split}_dataloader.dataset.data_root={data_root}' for split in ('train', 'val', 'test')] + [
        'default_hooks.logger.interval=1'
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    if not osp.isfile(CONFIG):
        pytest.skip(f'{CONFIG} does not exist')
    root = tmp_path_factory.mktemp('train_test')
    data_root = planning_infos.write_planning_infos(str(root / 'data'))
    work_dir = str(root / 'work')
    run_tool(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CONFIG,
            '--work-dir',
            work_dir,
            '--cfg-options',
            *data_options(data_root),
            'train_cfg.max_iters=4',
            'train_cfg.val_interval=4',
            'default_hooks.checkpoint.interval=2',
        ],
        cwd=str(root),
    )
    return root, data_root, work_dir


def test_train_writes_checkpoints(trained):
    _, _, work_dir = trained
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_4.pth')
    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert 'EgoMLPPlanner' in ckpt['meta']['cfg']
    assert any(v.dim() == 2 for v in ckpt['state_dict'].values())


def test_test_tool_writes_metrics_and_visualisations(trained):
    root, data_root, work_dir = trained
    test_dir, show_dir = str(root / 'test'), str(root / 'show')
    run_tool(
        [
            osp.join(REPO, 'tools', 'test.py'),
            CONFIG,
            osp.join(work_dir, 'iter_4.pth'),
            '--work-dir',
            test_dir,
            '--show-dir',
            show_dir,
            '--cfg-options',
            *data_options(data_root),
        ],
        cwd=str(root),
    )
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert set(metrics) == PROTOCOL_KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    for protocol in ('stp3', 'uniad'):
        l2 = [metrics[f'{protocol}/L2_{t}'] for t in ('1s', '2s', '3s')]
        assert all(v > 0 for v in l2)
        assert metrics[f'{protocol}/L2_avg'] == pytest.approx(sum(l2) / 3, rel=1e-5)

    # Same checkpoint, same split: the validation at the end of training gave the same numbers.
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        val = [json.loads(line) for line in f if 'stp3/L2_1s' in line][-1]
    for key in PROTOCOL_KEYS:
        assert metrics[key] == pytest.approx(val[key], rel=1e-4, abs=1e-4)

    assert glob.glob(osp.join(show_dir, '**', '*.png'), recursive=True), f'--show-dir wrote no images to {show_dir}'


def test_training_sends_plots_and_curves_to_tensorboard(trained):
    """TensorBoard is on by default: validation plots (BEV) and the loss / metric curves of the run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, work_dir = trained
    events = glob.glob(osp.join(work_dir, '*', 'vis_data', 'events.out.tfevents.*'))
    assert len(events) == 1, events
    acc = EventAccumulator(events[0], size_guidance={'images': 0, 'scalars': 0})
    acc.Reload()
    images = acc.Tags()['images']
    assert len(images) == 8 and all(t.startswith('val_') for t in images), images
    assert {e.step for t in images for e in acc.Images(t)} == {4}
    assert {'loss', 'lr', 'stp3/L2_avg', 'uniad/CR_avg'} <= set(acc.Tags()['scalars'])
    assert [e.step for e in acc.Scalars('loss')] == [1, 2, 3, 4]


def test_auto_resume(trained):
    root, data_root, work_dir = trained
    log = run_tool(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CONFIG,
            '--work-dir',
            work_dir,
            '--resume',
            '--cfg-options',
            *data_options(data_root),
            'train_cfg.max_iters=6',
            'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=2',
        ],
        cwd=str(root),
    )
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'Iter(train) [1/6]' not in log and 'Iter(train) [5/6]' in log
    ckpt = torch.load(osp.join(work_dir, 'iter_6.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 6
    assert {int(s['step']) for s in ckpt['optimizer']['state'].values()} == {6}


def test_explicit_resume(trained, tmp_path):
    """``--resume CKPT`` continues from that file in a fresh work dir."""
    _, data_root, work_dir = trained
    second = str(tmp_path / 'second')
    log = run_tool(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CONFIG,
            '--work-dir',
            second,
            '--resume',
            osp.join(work_dir, 'iter_2.pth'),
            '--cfg-options',
            *data_options(data_root),
            'train_cfg.max_iters=3',
            'train_cfg.val_interval=100',
        ],
        cwd=str(tmp_path),
    )
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [3/3]' in log
    assert torch.load(osp.join(second, 'iter_3.pth'), weights_only=True)['meta']['iter'] == 3
    assert not osp.exists(osp.join(second, 'iter_2.pth'))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'mmautomot_tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_show_dir_sets_or_adds_visualization_hook():
    tool = _load_tool('test')
    cfg = Config(dict(default_hooks=dict(timer=dict(type='IterTimerHook'))))
    tool.enable_visualization_hook(cfg, '/tmp/show')
    assert cfg.custom_hooks == [dict(type='PlanningVisualizationHook', show_dir='/tmp/show')]

    cfg = Config(
        dict(
            default_hooks=dict(vis=dict(type='PlanningVisualizationHook', interval=5)),
            custom_hooks=[dict(type='EMAHook')],
        )
    )
    tool.enable_visualization_hook(cfg, 'out')
    assert cfg.default_hooks.vis == dict(type='PlanningVisualizationHook', interval=5, show_dir='out')
    assert cfg.custom_hooks == [dict(type='EMAHook')]


def test_dump_metrics_flattens_to_floats(tmp_path):
    tool = _load_tool('test')
    path = str(tmp_path / 'sub' / 'test_metrics.json')
    tool.dump_metrics({'stp3/L2_1s': torch.tensor(0.25), 'n': 3, 'protocol': 'stp3'}, path)
    with open(path) as f:
        assert json.load(f) == {'stp3/L2_1s': 0.25, 'n': 3.0}


def test_flexible_runner_train_and_resume_in_process(tmp_path, monkeypatch):
    """``runner_type='FlexibleRunner'`` goes through RUNNERS (strategy instead of wrapper)."""
    work_dir = str(tmp_path / 'flex')
    cfg = toy_modules.write_toy_config(str(tmp_path / 'toy.py'), work_dir, max_iters=2, interval=2)
    tool = _load_tool('train')
    opts = ['--cfg-options', 'runner_type=FlexibleRunner', 'strategy.type=SingleDeviceStrategy']
    monkeypatch.setattr(sys, 'argv', ['train.py', cfg] + opts)
    tool.main()
    assert torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=True)['meta']['iter'] == 2
    monkeypatch.setattr(
        sys, 'argv', ['train.py', cfg, '--resume'] + opts + ['train_cfg.max_iters=3', 'experiment_name=flex_resume']
    )
    tool.main()
    resumed = torch.load(osp.join(work_dir, 'iter_3.pth'), weights_only=True)
    assert resumed['meta']['iter'] == 3
    assert {int(s['step']) for s in resumed['optimizer']['state'].values()} == {3}


def test_auto_scale_lr_in_process(tmp_path, monkeypatch):
    """``--auto-scale-lr``: lr x (1 process x 4 samples) / base_batch_size 8."""
    work_dir = str(tmp_path / 'scale')
    cfg = toy_modules.write_toy_config(str(tmp_path / 'toy.py'), work_dir, max_iters=1, interval=1, batch_size=4)
    tool = _load_tool('train')
    monkeypatch.setattr(
        sys,
        'argv',
        ['train.py', cfg, '--auto-scale-lr', '--cfg-options', 'param_scheduler=[]', 'experiment_name=scale_lr'],
    )
    tool.main()
    ckpt = torch.load(osp.join(work_dir, 'iter_1.pth'), weights_only=True)
    assert ckpt['optimizer']['param_groups'][0]['lr'] == pytest.approx(1e-2 * 4 / 8)

    monkeypatch.setattr(sys, 'argv', ['train.py', cfg, '--auto-scale-lr', '--cfg-options', 'auto_scale_lr=None'])
    with pytest.raises(RuntimeError, match='--auto-scale-lr needs `auto_scale_lr'):
        tool.main()


def test_test_tool_without_checkpoint_for_parameter_free_baseline(trained):
    """The constant-velocity baseline has no weights: ``tools/test.py CONFIG`` (no CKPT) scores it."""
    root, data_root, _ = trained
    cv_config = osp.join(REPO, 'configs', 'baselines', 'constant-velocity_tiny_nuscenes.py')
    test_dir = str(root / 'test_cv')
    options = [o for o in data_options(data_root) if not o.startswith('train_')]  # no train split
    out = run_tool(
        [osp.join(REPO, 'tools', 'test.py'), cv_config, '--work-dir', test_dir, '--cfg-options', *options],
        cwd=str(root),
    )
    assert 'no checkpoint given' in out
    with open(osp.join(test_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert set(metrics) == PROTOCOL_KEYS
    assert all(math.isfinite(v) for v in metrics.values())


def run_tool_failing(args, cwd, timeout=300, env_extra=None):
    """Run a tool that must fail; return its combined output."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([REPO, ENGINE_TESTS]),
        MPLBACKEND='Agg',
        OMP_NUM_THREADS='1',
        **(env_extra or {}),
    )
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode != 0, f'{" ".join(args)} should have failed:\n{proc.stdout[-3000:]}'
    return proc.stdout + proc.stderr


def _foreign_checkpoint(work_dir, path, edit):
    from mmautomot.utils import load_checkpoint_file

    ckpt = load_checkpoint_file(osp.join(work_dir, 'iter_2.pth'))
    edit(ckpt['state_dict'])
    torch.save(ckpt, path)
    return path


def test_test_tool_refuses_foreign_checkpoint(trained, tmp_path):
    """A checkpoint of another model fails ``tools/test.py`` (exit != 0) listing the keys, instead of
    metrics of random weights."""
    root, data_root, work_dir = trained
    key = next(
        k
        for k, v in torch.load(osp.join(work_dir, 'iter_2.pth'), weights_only=False)['state_dict'].items()
        if v.dim() == 2
    )

    def rename(state):
        state['other_model.' + key] = state.pop(key)

    bad = _foreign_checkpoint(work_dir, str(tmp_path / 'foreign.pth'), rename)
    out = run_tool_failing(
        [
            osp.join(REPO, 'tools', 'test.py'),
            CONFIG,
            bad,
            '--work-dir',
            str(tmp_path / 't'),
            '--cfg-options',
            *data_options(data_root),
        ],
        cwd=str(root),
    )
    assert 'CheckpointMismatchError' in out and 'foreign.pth' in out
    assert f'1 missing keys (in the model, not in the checkpoint): {key}' in out
    assert f'other_model.{key}' in out
    assert not osp.exists(str(tmp_path / 't' / 'test_metrics.json'))


def test_resume_refuses_shape_mismatch(trained, tmp_path):
    root, data_root, work_dir = trained
    holder = {}

    def widen(state):
        key = next(k for k, v in state.items() if v.dim() == 2)
        state[key] = torch.zeros(state[key].shape[0] + 1, state[key].shape[1])
        holder['key'] = key

    bad = _foreign_checkpoint(work_dir, str(tmp_path / 'wide.pth'), widen)
    out = run_tool_failing(
        [
            osp.join(REPO, 'tools', 'train.py'),
            CONFIG,
            '--work-dir',
            str(tmp_path / 'r'),
            '--resume',
            bad,
            '--cfg-options',
            *data_options(data_root),
            'train_cfg.max_iters=3',
        ],
        cwd=str(root),
    )
    assert 'resume: checkpoint' in out and '1 shape mismatches' in out and holder['key'] in out


def test_partial_load_from_is_an_explicit_option(trained, tmp_path):
    """``load_from`` of a partial checkpoint fails by default and loads with
    ``default_hooks.checkpoint_check.partial_load_from=True`` (listed as a warning)."""
    root, data_root, work_dir = trained

    def drop_one(state):
        state.pop(next(k for k, v in state.items() if v.dim() == 2))

    part = _foreign_checkpoint(work_dir, str(tmp_path / 'part.pth'), drop_one)
    args = [
        osp.join(REPO, 'tools', 'train.py'),
        CONFIG,
        '--work-dir',
        str(tmp_path / 'p'),
        '--cfg-options',
        *data_options(data_root),
        f'load_from={part}',
        'train_cfg.max_iters=1',
        'train_cfg.val_interval=100',
    ]
    out = run_tool_failing(args, cwd=str(root))
    assert 'load_from: checkpoint' in out and '1 missing keys' in out
    log = run_tool(args + ['default_hooks.checkpoint_check.partial_load_from=True'], cwd=str(root))
    assert 'partial load_from' in log and '1 missing keys' in log


def test_test_tool_refuses_code_running_checkpoint_url(trained, tmp_path):
    """``tools/test.py CFG http://127.0.0.1:PORT/evil.pth`` goes through the safe loader: the crafted
    pickle is refused and its code never runs."""
    import functools
    import http.server
    import threading

    root, data_root, _ = trained
    marker = tmp_path / 'pwned'
    serve = tmp_path / 'serve'
    serve.mkdir()
    with open(serve / 'evil.pth', 'wb') as f:
        torch.save({'state_dict': {}, 'x': _CodeRunner(str(marker))}, f)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(serve))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/evil.pth'
        out = run_tool_failing(
            [
                osp.join(REPO, 'tools', 'test.py'),
                CONFIG,
                url,
                '--work-dir',
                str(tmp_path / 't'),
                '--cfg-options',
                *data_options(data_root),
            ],
            cwd=str(root),
            env_extra=dict(TORCH_HOME=str(tmp_path / 'torch_home')),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert not marker.exists(), 'the crafted checkpoint ran code'
    assert 'UnsafeCheckpointError' in out and 'evil.pth' in out and 'posix.system' in out


class _CodeRunner:
    """Unpickles as ``os.system('touch <marker>')``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)
