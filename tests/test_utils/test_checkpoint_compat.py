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

from mmautomot.utils import (UnsafeCheckpointError, enable_safe_mmengine_checkpoints,
                             load_from_local_safe, safe_checkpoint_globals)

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
    path = toy_modules.write_toy_config(osp.join(work_dir, f'{name}.py'), work_dir,
                                        max_iters=2, interval=2)
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
    assert {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr',
            'numpy.ndarray', 'numpy.dtype', 'mmengine.config.config.ConfigDict'} <= names
    default = set(torch._weights_only_unpickler._get_allowed_globals())
    ours = {obj[1] if isinstance(obj, tuple) else f'{obj.__module__}.{obj.__qualname__}'
            for obj in safe_checkpoint_globals()}
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
    runner = _runner(str(tmp_path), 'compat_load_from', load_from=ckpt,
                     randomness=dict(seed=123))
    before = runner.model.state_dict()
    assert any(not torch.equal(before[k], v) for k, v in state.items())
    runner.load_or_resume()
    for key, value in state.items():
        torch.testing.assert_close(runner.model.state_dict()[key], value)
    assert runner.iter == 0  # load_from only loads weights


def test_resume(trained, tmp_path):
    ckpt, state = trained
    runner = _runner(str(tmp_path), 'compat_resume', load_from=ckpt, resume=True,
                     train_cfg=dict(max_iters=3, val_interval=3))
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
