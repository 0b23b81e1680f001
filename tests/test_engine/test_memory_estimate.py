# Copyright (c) mmautomot contributors. All rights reserved.
"""mmautomot.engine.memory_estimate and tools/analysis_tools/estimate_memory.py against hand-computed values."""

import importlib.util
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from mmautomot.engine.memory_estimate import SavedTensorMeter, estimate_memory, joint_stack_activations, strategy_kind
from mmautomot.models.mot import MoTTransformer
from mmautomot.models.vlm import qwen3vl_preset

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TINY = osp.join(ROOT, 'projects', 'automot', 'configs', 'automot_tiny_1xb2-200i_nuscenes-e2e.py')
# tiny Qwen3-VL text: 3 layers, width 64, FFN 128, 4 heads / 2 KV / 16; AE width 48, FFN 96
LAYERS, CU, FU, H, KV, D, CA, FA = 3, 64, 128, 4, 2, 16, 48, 96
FSDP = dict(type='FSDPStrategy', model_wrapper=dict(mixed_precision=dict(param_dtype='bfloat16')))


def _layer_params(c, f):
    """Hand count of one decoder layer: 2 RMSNorms, q/k/v/o, q/k norms, SwiGLU (no biases)."""
    return 2 * c + c * H * D + 2 * c * KV * D + H * D * c + 2 * D + 3 * c * f


def _mot(device='meta'):
    ue = dict(type='Qwen3VLUnderstandingExpert', config=qwen3vl_preset('tiny'), image_size=(32, 64), num_frames=2)
    torch.manual_seed(0)
    with torch.device(device):
        return MoTTransformer(ue=ue, ae=dict(hidden_size=CA, intermediate_size=FA))


def test_saved_tensor_meter_hand_counted():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4)
    with SavedTensorMeter(exclude=list(net.parameters())) as meter:
        net(x).sum()
    # Linear 1 keeps x (3 x 4) for its weight gradient; ReLU keeps its output (3 x 8), which Linear 2 keeps too
    # (the same storage, counted once); the weights are parameters, not activations
    assert meter.total == (3 * 4 + 3 * 8) * 4
    with torch.no_grad(), SavedTensorMeter() as meter:
        net(x)
    assert meter.total == 0


def test_state_bytes_hand_computed():
    mot = _mot()
    ae = LAYERS * _layer_params(CA, FA) + CA  # + final AE norm
    assert ae == 69552
    total = sum(p.numel() for p in mot.parameters())
    # plain DDP, fp32: everything replicated; AdamW keeps 2 fp32 moments per trainable (AE) parameter
    res = estimate_memory(mot, 2, 2, None, ue_tokens=40, ae_tokens=7)
    assert res['params'] == dict(total=total, trainable=ae, frozen=total - ae)
    b = res['bytes']
    assert (b['parameters'], b['gradients'], b['optimizer_states'], b['param_gather']) == (4 * total, 4 * ae, 8 * ae, 0)
    # FSDP on 4 GPUs, bf16 compute: states sharded; gathered = root unit + 2 joint-layer units in bf16
    res = estimate_memory(_mot(), 4, 2, FSDP, ue_tokens=40, ae_tokens=7)
    b = res['bytes']
    assert (b['parameters'], b['gradients'], b['optimizer_states']) == (total, ae, 2 * ae)
    joint = _layer_params(CU, FU) + _layer_params(CA, FA)
    vision = sum(p.numel() for blk in _mot().ue.core.model.visual.blocks for p in blk.parameters())
    root = total - LAYERS * joint - vision
    assert b['param_gather'] == (root + 2 * joint) * 2
    assert res['compute_dtype'] == 'bfloat16' and res['strategy'] == 'fsdp'
    # DeepSpeed ZeRO-3 bf16: bf16 parameters, fp32 gradients, fp32 master weights + 2 moments, all sharded
    zero = dict(type='DeepSpeedStrategy', bf16=dict(enabled=True), zero_optimization=dict(stage=3))
    b = estimate_memory(_mot(), 4, 1, zero, 40, 7)['bytes']
    assert (b['parameters'], b['gradients'], b['optimizer_states']) == (2 * total / 4, 4 * ae / 4, 12 * ae / 4)
    assert strategy_kind(dict(type='DeepSpeedStrategy', zero_optimization=dict(stage=2)))['zero_stage'] == 2
    with pytest.raises(ValueError, match='gpus and batch must be >= 1'):
        estimate_memory(_mot(), 0, 1, None, 40, 7)


def test_activations_checkpointing_hand_computed_and_meta_equals_cpu():
    B, LU, LA = 2, 40, 7
    meta = joint_stack_activations(_mot(), B, LU, LA)
    # checkpointing keeps every joint layer's inputs: the UE and AE hidden states of each layer, the shared
    # rotary cos/sin of both experts and the boolean mask (fp32 = 4 bytes, bool = 1 byte)
    kept = LAYERS * (B * LU * CU + B * LA * CA) * 4 + 2 * B * (LU + LA) * D * 4 + B * (LU + LA) ** 2
    assert meta['layer_inputs'] == kept == 85954
    assert meta['checkpointing'] == kept + max(meta['per_layer'])
    assert meta['no_checkpointing'] > meta['checkpointing'] and len(meta['per_layer']) == LAYERS
    # the meta run saves what a real CPU run saves (attention on torch's math path, as on the meta device)
    with sdpa_kernel(SDPBackend.MATH):
        cpu = joint_stack_activations(_mot('cpu'), B, LU, LA, device='cpu')
    assert cpu == meta
    # activations scale linearly with the batch; bf16 halves them
    double = joint_stack_activations(_mot(), 2 * B, LU, LA)
    assert double['no_checkpointing'] == 2 * meta['no_checkpointing']
    half = joint_stack_activations(_mot(), B, LU, LA, dtype=torch.bfloat16)
    assert half['layer_inputs'] == kept - (kept - B * (LU + LA) ** 2) / 2


@pytest.mark.skipif(not osp.isfile(TINY), reason='tiny AutoMoT config missing')
def test_estimate_memory_tool_tiny(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'estimate_memory', osp.join(ROOT, 'tools', 'analysis_tools', 'estimate_memory.py')
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'mem.json'
    res = tool.main([TINY, '--gpus', '2', '--batch', '3', '--json', str(out)])
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out) == json.loads(json.dumps(res))
    assert res['tokens']['ae'] == 75 + 26 and res['tokens']['ue'] > 0 and res['strategy'] == 'ddp'
    b = res['bytes']
    assert b['gradients'] == 4 * res['params']['trainable'] and b['optimizer_states'] == 2 * b['gradients']
    assert b['total']['checkpointing'] < b['total']['no_checkpointing']
    # the BEV encoder / token / head activations (config cam_size 128 x 64) come on top of the joint stack
    parts = res['activation_parts']
    assert parts['ae_inputs_and_heads'] > 0
    assert b['activations']['no_checkpointing'] == round(parts['joint_stack'] + parts['ae_inputs_and_heads'])
    assert b['activations']['checkpointing'] == round(parts['joint_stack_checkpointing'] + parts['ae_inputs_and_heads'])
    again = tool.main([TINY, '--gpus', '2', '--batch', '3', '--ue-tokens', str(res['tokens']['ue'])])
    assert again['bytes'] == b
