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


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU (gloo) path')
def test_fsdp_per_joint_layer_equals_single_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1')
    single, fsdp = str(tmp_path / 'single.json'), str(tmp_path / 'fsdp.json')
    worker = osp.join(HERE, 'fsdp_worker.py')
    proc = subprocess.run([sys.executable, worker, 'single', single], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # FSDP run with activation checkpointing per joint layer on: same numbers as the plain single process
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
        '--master_port', str(_free_port()), worker, 'fsdp', fsdp
    ], env=dict(env, MOT_CHECKPOINT_LAYERS='1'), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    with open(single) as f:
        ref = json.load(f)
    with open(fsdp) as f:
        out = json.load(f)
    # tiny Qwen3-VL: 3 text layers, 3 vision blocks -> 3 joint-layer units + 3 vision units + the root
    assert out['joint_units'] == 3 and out['units'] == 1 + 3 + 3
    assert len(ref['losses']) == len(out['losses']) == 2 and ref['losses'][1] < ref['losses'][0]
    # iteration 2 runs on weights updated from the sharded, reduce-scattered gradients
    for a, b in zip(ref['losses'], out['losses']):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    # the gathered full state dict has the single-process keys (no joint_layers duplicates) and values
    assert out['num_keys'] == ref['num_keys'] and out['joint_keys'] == ref['joint_keys'] == 0
    for key, values in ref['tensors'].items():
        torch.testing.assert_close(torch.tensor(out['tensors'][key]), torch.tensor(values), rtol=1e-5, atol=1e-6,
                                   msg=key)
