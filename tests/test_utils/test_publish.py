# Copyright (c) mmautomot contributors. All rights reserved.
"""tools/model_converters/publish_model.py: safetensors release files with EMA weights and a sha256 name."""

import hashlib
import os.path as osp
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from mmautomot.utils.publish import publish_checkpoint, release_state_dict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _ckpt(ema=True):
    w = torch.arange(6, dtype=torch.float32).view(2, 3)
    ckpt = dict(
        meta=dict(iter=4),
        state_dict={'a.weight': w, 'a.bias': torch.ones(2), 'head.weight': w},
        optimizer=dict(state={}, param_groups=[dict(lr=0.1)]),
    )
    if ema:  # what mmengine's EMAHook leaves: EMA weights swapped into state_dict, the average model aside
        ckpt['ema_state_dict'] = {'module.a.weight': w * 0, 'steps': torch.tensor(4)}
    return ckpt


def test_publish_writes_weights_only_with_sha_name(tmp_path):
    src = tmp_path / 'iter_4.pth'
    torch.save(_ckpt(), src)
    result = publish_checkpoint(str(src), str(tmp_path / 'rel' / 'model.safetensors'))
    sha = hashlib.sha256(open(result['path'], 'rb').read()).hexdigest()
    assert result['sha256'] == sha
    assert result['path'] == str(tmp_path / 'rel' / f'model-{sha[:8]}.safetensors')
    assert result['ema'] is True and result['num_tensors'] == 3 and result['num_params'] == 6 + 2
    state = load_file(result['path'])
    assert sorted(state) == ['a.bias', 'a.weight']  # head.weight shares storage with a.weight (tied)
    assert torch.equal(state['a.weight'], _ckpt()['state_dict']['a.weight'])
    with safe_open(result['path'], 'pt') as f:
        meta = f.metadata()
    assert meta['ema'] == 'true' and meta['source'] == 'iter_4.pth' and meta['tied'] == '{"head.weight": "a.weight"}'
    assert not list((tmp_path / 'rel').glob('*.tmp.*'))


def test_publish_tool_and_errors(tmp_path):
    src = tmp_path / 'plain.pth'
    torch.save({'w': torch.zeros(3)}, src)
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'model_converters', 'publish_model.py'),
            str(src),
            str(tmp_path / 'out'),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"ema": false' in proc.stdout and len(list(tmp_path.glob('out-*.safetensors'))) == 1
    with pytest.raises(ValueError, match='bad.pth: no "state_dict"'):
        release_state_dict({'meta': {}, 'x': 1}, 'bad.pth')
    with pytest.raises(ValueError, match="non-tensor entries in the state dict: \\['n'\\]"):
        release_state_dict({'state_dict': {'n': 3}}, 'c.pth')
