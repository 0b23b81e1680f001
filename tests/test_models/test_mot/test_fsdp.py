# Copyright (c) mmautomot contributors. All rights reserved.
"""FSDP with one unit per joint layer on the CPU (2 gloo processes) trains exactly like one process."""

import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(osp.dirname(HERE)))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]), OMP_NUM_THREADS='1')
WORKER = osp.join(HERE, 'fsdp_worker.py')
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')


def _fsdp_run(out, **env):
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'torch.distributed.run',
            '--nproc_per_node',
            '2',
            '--master_addr',
            '127.0.0.1',
            '--master_port',
            str(_free_port()),
            WORKER,
            'fsdp',
            out,
        ],
        env=dict(ENV, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    with open(out) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def single_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('fsdp') / 'single.json')
    proc = subprocess.run([sys.executable, WORKER, 'single', out], env=ENV, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(out) as f:
        return json.load(f)


def test_fsdp_per_joint_layer_equals_single_process(single_run, tmp_path):
    ref = single_run
    # FSDP run with activation checkpointing per joint layer on: same numbers as the plain single process
    out = _fsdp_run(str(tmp_path / 'fsdp.json'), MOT_CHECKPOINT_LAYERS='1')
    # tiny Qwen3-VL: 3 text layers, 3 vision blocks -> 3 joint-layer units + 3 vision units + the root
    assert out['joint_units'] == 3 and out['units'] == 1 + 3 + 3
    assert len(ref['losses']) == len(out['losses']) == 2 and ref['losses'][1] < ref['losses'][0]
    # iteration 2 runs on weights updated from the sharded, reduce-scattered gradients
    for a, b in zip(ref['losses'], out['losses']):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    # the gathered full state dict has the single-process keys (no joint_layers duplicates) and values
    assert out['num_keys'] == ref['num_keys'] and out['joint_keys'] == ref['joint_keys'] == 0
    for key, values in ref['tensors'].items():
        torch.testing.assert_close(
            torch.tensor(out['tensors'][key]), torch.tensor(values), rtol=1e-5, atol=1e-6, msg=key
        )
    # loading that full state dict back (strict) restores the trained weights on every shard
    reload = out['reload']
    assert reload['missing'] == [] and reload['unexpected'] == []
    assert reload['stepped'] != reload['trained'] and reload['reloaded'] == reload['trained']


def test_fsdp_bf16_mixed_precision_of_the_paper_config(single_run, tmp_path):
    """The paper config's wrapper as is (bf16 compute, fp32 reduction): bf16-close to the fp32 run."""
    out = _fsdp_run(str(tmp_path / 'bf16.json'), MOT_BF16='1')
    assert out['joint_units'] == 3
    for a, b in zip(single_run['losses'], out['losses']):
        assert b == pytest.approx(a, rel=5e-3) and b != a  # bf16 rounding, not the fp32 result
    for key, values in single_run['tensors'].items():  # fp32 master weights, updated alike
        torch.testing.assert_close(torch.tensor(out['tensors'][key]), torch.tensor(values), rtol=0, atol=2e-4, msg=key)
