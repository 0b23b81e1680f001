# Copyright (c) mmautomot contributors. All rights reserved.
"""MMEngine Runner checkpoints load with ``weights_only=True`` (load_from, resume, torch.load)."""

import json
import os.path as osp
import pickletools
import sys
import zipfile

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from safetensors.torch import save_file

from mmautomot.utils import (
    UnsafeCheckpointError,
    enable_safe_mmengine_checkpoints,
    load_from_local_safe,
    safe_checkpoint_globals,
)

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_engine'))
import toy_modules  # noqa: E402

META = dict(dataset='toy', classes=('car', 'pedestrian'), planning=dict(fut_steps=6))


class NotAllowListed:
    """A class no checkpoint allow-list knows."""

    def __init__(self, value=1):
        self.value = value


class GetattrAbuse:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``: allowed name, refused attribute."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def _runner(work_dir, name, **overrides):
    path = toy_modules.write_toy_config(osp.join(work_dir, f'{name}.py'), work_dir, max_iters=2, interval=2)
    cfg = Config.fromfile(path)
    cfg.train_dataloader.dataset.metainfo = META  # becomes a ConfigDict in dataset_meta
    cfg.experiment_name = name
    cfg.merge_from_dict(overrides)
    return Runner.from_cfg(cfg)


def _pickle_globals(ckpt):
    """All ``module.name`` globals in a torch.save zip checkpoint, read without unpickling."""
    with zipfile.ZipFile(ckpt) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith('data.pkl')))
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':
            names.add(arg.replace(' ', '.').replace('__builtin__', 'builtins'))
        elif op.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'UNICODE'):
            strings.append(arg)
        elif op.name == 'STACK_GLOBAL':
            names.add(f'{strings[-2]}.{strings[-1]}')
    return names


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    enable_safe_mmengine_checkpoints()
    work_dir = str(tmp_path_factory.mktemp('compat_train'))
    runner = _runner(work_dir, 'compat_train')
    runner.train()
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    state = {k: v.clone() for k, v in runner.model.state_dict().items()}
    return ckpt, state


def test_runner_checkpoint_globals_are_exactly_allow_listed(trained):
    ckpt, _ = trained
    names = _pickle_globals(ckpt)
    # What a Runner checkpoint pickles besides tensors (measured with mmengine 0.10.7).
    assert {
        'mmengine.logging.history_buffer.HistoryBuffer',
        'builtins.getattr',
        'numpy.ndarray',
        'numpy.dtype',
        'mmengine.config.config.ConfigDict',
    } <= names
    default = set(torch._weights_only_unpickler._get_allowed_globals())
    ours = {
        obj[1] if isinstance(obj, tuple) else f'{obj.__module__}.{obj.__qualname__}'
        for obj in safe_checkpoint_globals()
    }
    assert names - default - ours == set()


def test_torch_load_weights_only(trained):
    ckpt, state = trained
    loaded = torch.load(ckpt, weights_only=True)
    assert set(loaded) >= {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'}
    assert loaded['meta']['iter'] == 2
    assert isinstance(loaded['meta']['dataset_meta'], ConfigDict)
    assert loaded['meta']['dataset_meta']['classes'] == ('car', 'pedestrian')
    loss = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert len(loss.data[0]) == 2 and loss.mean() == pytest.approx(loss.data[0].mean())
    for key, value in state.items():
        torch.testing.assert_close(loaded['state_dict'][key], value)


def test_local_scheme_is_replaced():
    enable_safe_mmengine_checkpoints()
    enable_safe_mmengine_checkpoints()  # idempotent
    assert CheckpointLoader._get_checkpoint_loader('/some/iter_2.pth') is load_from_local_safe


def test_load_from(trained, tmp_path):
    ckpt, state = trained
    runner = _runner(str(tmp_path), 'compat_load_from', load_from=ckpt, randomness=dict(seed=123))
    before = runner.model.state_dict()
    assert any(not torch.equal(before[k], v) for k, v in state.items())
    runner.load_or_resume()
    for key, value in state.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)
    assert runner.iter == 0  # load_from only loads weights


def test_resume(trained, tmp_path):
    ckpt, state = trained
    runner = _runner(
        str(tmp_path), 'compat_resume', load_from=ckpt, resume=True, train_cfg=dict(max_iters=3, val_interval=3)
    )
    runner.train()
    assert runner.iter == 3
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 3
    resumed = torch.load(osp.join(str(tmp_path), 'iter_3.pth'), weights_only=True)
    assert resumed['meta']['iter'] == 3
    # Adam's step count continued from the checkpoint (2 steps) instead of restarting.
    steps = {int(s['step']) for s in resumed['optimizer']['state'].values()}
    assert steps == {3}


def test_object_outside_allow_list_is_refused(tmp_path):
    enable_safe_mmengine_checkpoints()
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=dict(x=NotAllowListed())), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        _load_checkpoint(path)
    msg = str(info.value)
    assert f"Refusing to load checkpoint '{path}'" in msg
    assert 'NotAllowListed' in msg
    assert 'register_safe_checkpoint_globals' in msg

    runner_dir = tmp_path / 'runner'
    runner_dir.mkdir()
    runner = _runner(str(runner_dir), 'compat_refuse', load_from=path)
    with pytest.raises(UnsafeCheckpointError, match='NotAllowListed'):
        runner.load_or_resume()


def test_getattr_is_restricted_to_history_buffer_statistics(tmp_path):
    enable_safe_mmengine_checkpoints()
    path = str(tmp_path / 'getattr.pth')
    torch.save(dict(meta=dict(x=GetattrAbuse())), path)
    with pytest.raises(UnsafeCheckpointError, match='only the statistics methods'):
        _load_checkpoint(path)


def test_safetensors_load_from(tmp_path):
    model = toy_modules.ToyPlanner()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / 'model.safetensors'))
    other = toy_modules.ToyPlanner()
    torch.nn.init.zeros_(other.net[0].weight)
    load_checkpoint(other, str(tmp_path / 'model.safetensors'), strict=True)
    for key, value in state.items():
        torch.testing.assert_close(other.state_dict()[key], value)

    # Sharded Hugging Face layout: an index naming the shard of each tensor.
    keys = sorted(state)
    shards = {'a.safetensors': keys[:2], 'b.safetensors': keys[2:]}
    for shard, names in shards.items():
        save_file({k: state[k] for k in names}, str(tmp_path / shard))
    index = dict(weight_map={k: s for s, names in shards.items() for k in names})
    (tmp_path / 'model.safetensors.index.json').write_text(json.dumps(index))
    third = toy_modules.ToyPlanner()
    load_checkpoint(third, str(tmp_path / 'model.safetensors.index.json'), strict=True)
    for key, value in state.items():
        torch.testing.assert_close(third.state_dict()[key], value)


KILL_DURING_SAVE = r"""
import os, signal, sys, threading
import torch
from mmautomot.utils import enable_safe_mmengine_checkpoints
from mmengine.runner.checkpoint import save_checkpoint
enable_safe_mmengine_checkpoints()
folder = sys.argv[1]
state = {'state_dict': {'w': torch.ones(32 << 20)}}  # 128 MiB: the write takes a while

def kill_when_a_file_appears():
    while not os.listdir(folder):
        pass
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=kill_when_a_file_appears, daemon=True).start()
save_checkpoint(state, os.path.join(folder, 'iter_1.pth'))  # what runner.save_checkpoint calls
threading.Event().wait(30)
"""


def test_kill_during_save_leaves_no_partial_checkpoint(tmp_path):
    """A process killed while writing ``iter_N.pth`` leaves no file under that name (temp + rename)."""
    import subprocess

    folder = tmp_path / 'ckpts'
    folder.mkdir()
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, '-c', KILL_DURING_SAVE, str(folder)],
        timeout=300,
        env=dict(__import__('os').environ, PYTHONPATH=repo, OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr[-3000:]
    names = sorted(p.name for p in folder.iterdir())
    assert 'iter_1.pth' not in names, names
    assert all(n.startswith('.iter_1.pth.') and n.endswith('.tmp') for n in names), names


def test_atomic_save_writes_complete_file_and_last_checkpoint(tmp_path):
    from mmengine.fileio import get_file_backend
    from mmengine.runner.checkpoint import save_checkpoint

    from mmautomot.utils import AtomicLocalBackend

    enable_safe_mmengine_checkpoints()
    assert isinstance(get_file_backend(str(tmp_path)), AtomicLocalBackend)
    save_checkpoint({'state_dict': {'w': torch.arange(5.0)}}, str(tmp_path / 'iter_2.pth'))
    get_file_backend(str(tmp_path)).put_text('iter_2.pth', str(tmp_path / 'last_checkpoint'))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_2.pth', 'last_checkpoint']
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / 'iter_2.pth').stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would
    assert torch.equal(torch.load(tmp_path / 'iter_2.pth', weights_only=True)['state_dict']['w'], torch.arange(5.0))


class _CodeRunner:
    """Unpickles as ``os.system('touch <marker>')``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f'touch {self.marker}',)


def test_http_checkpoint_goes_through_the_safe_loader(tmp_path, monkeypatch):
    """A crafted pickle served over http (loopback) is refused by ``load_checkpoint_file`` and by
    MMEngine's ``load_checkpoint``; a good one loads."""
    import functools
    import http.server
    import threading

    from mmautomot.utils import load_checkpoint_file

    enable_safe_mmengine_checkpoints()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    marker = tmp_path / 'pwned'
    serve = tmp_path / 'serve'
    serve.mkdir()
    torch.save({'state_dict': {}, 'x': _CodeRunner(str(marker))}, serve / 'evil.pth')
    torch.save({'state_dict': {'weight': torch.ones(2, 3), 'bias': torch.zeros(2)}}, serve / 'good.pth')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(serve))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        with pytest.raises(UnsafeCheckpointError, match=r'evil\.pth.*posix\.system'):
            load_checkpoint_file(f'{base}/evil.pth')
        with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
            load_checkpoint(torch.nn.Linear(3, 2), f'{base}/evil.pth')
        good = load_checkpoint_file(f'{base}/good.pth')
        assert torch.equal(good['state_dict']['weight'], torch.ones(2, 3))
    finally:
        server.shutdown()
        server.server_close()
    assert not marker.exists()


def test_safetensors_with_unfit_dtypes_is_refused_by_name(tmp_path):
    """A safetensors file holding integer tensors for float parameters fails naming the parameter,
    also with ``strict=False``."""
    from mmautomot.utils import CheckpointMismatchError, check_state_dict_fits, load_from_local_safe

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state['0.weight'] = torch.ones(2, 3, dtype=torch.int32)
    state['1.num_batches_tracked'] = torch.tensor(1.5)
    save_file(state, str(tmp_path / 'w.safetensors'))
    loaded = load_from_local_safe(str(tmp_path / 'w.safetensors'))
    for strict in (True, False):
        with pytest.raises(
            CheckpointMismatchError,
            match=r'w\.safetensors.*2 dtype mismatches: 1\.num_batches_tracked: checkpoint '
            r'torch\.float32 vs model torch\.int64, 0\.weight: checkpoint torch\.int32 vs '
            r'model torch\.float32\.$',
        ):
            check_state_dict_fits(model, loaded, str(tmp_path / 'w.safetensors'), strict=strict)
    # float16 weights for a float32 model fit (a lossless-enough cast, as in bf16 training)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    assert check_state_dict_fits(model, state, 'half').ok
