# Copyright (c) mmautomot contributors. All rights reserved.
import copy

import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict as mmengine_load_state_dict

from mmautomot.models.mot import JointLayer, MoTTransformer, mot_forward
from mmautomot.models.vlm import qwen3vl_preset

GROUPS = (3, 4)


def tiny_ue_cfg():
    return dict(type='Qwen3VLUnderstandingExpert', config=qwen3vl_preset('tiny'), image_size=(32, 64), num_frames=2)


def _model(**kw):
    torch.manual_seed(0)
    return MoTTransformer(ue=tiny_ue_cfg(), ae=dict(hidden_size=48, intermediate_size=96), cache_capacity=64, **kw)


def test_joint_layers_share_the_owners_modules(tiny_mot):
    assert len(tiny_mot.joint_layers) == len(tiny_mot.ae_layers) == len(tiny_mot.ue.layers)
    for i, jl in enumerate(tiny_mot.joint_layers):
        assert isinstance(jl, JointLayer) and jl.layer_idx == i
        assert jl.ue is tiny_mot.ue.layers[i] and jl.ae is tiny_mot.ae_layers[i]
        assert type(jl.ue).__name__ == 'Qwen3VLTextDecoderLayer'  # transformers' own module
    # parameter names stay the owners' (deduplicated: first path wins), no parameter counted twice
    names = [n for n, _ in tiny_mot.named_parameters()]
    assert not any(n.startswith('joint_layers.') for n in names)
    assert 'ue.hf.model.language_model.layers.0.self_attn.q_proj.weight' in names
    assert 'ae_layers.1.mlp.up_proj.weight' in names
    assert len(names) == len({id(p) for p in tiny_mot.parameters()})


def test_state_dict_keys_unchanged_and_round_trip(tiny_mot):
    sd = tiny_mot.state_dict()
    assert not any(k.startswith('joint_layers.') for k in sd)
    # the keys are exactly those of the owners: the UE's own state dict and the AE layers / norm
    expected = {f'ue.{k}' for k in tiny_mot.ue.state_dict()}
    expected |= {f'ae_layers.{k}' for k in tiny_mot.ae_layers.state_dict()}
    expected |= {f'ae_norm.{k}' for k in tiny_mot.ae_norm.state_dict()}
    assert set(sd) == expected
    key = 'ue.hf.model.language_model.layers.1.mlp.down_proj.weight'
    assert sd[key].data_ptr() == tiny_mot.ue.layers[1].mlp.down_proj.weight.data_ptr()

    other = _model()
    other.ae_layers[0].mlp.up_proj.weight.data.add_(1.0)
    other.ue.layers[1].mlp.down_proj.weight.data.mul_(3.0)
    result = other.load_state_dict(sd, strict=True)  # torch's loader: no missing / unexpected key
    assert not result.missing_keys and not result.unexpected_keys
    for k, v in other.state_dict().items():
        assert torch.equal(v, sd[k]), k

    # mmengine's loader (checkpoints, resume) goes through the same hooks, under a parent prefix
    parent = torch.nn.Module()
    parent.mot = _model()
    parent.mot.ae_layers[1].self_attn.q_proj.weight.data.zero_()
    partial = {f'mot.{k}': v for k, v in sd.items() if k != 'ae_layers.1.self_attn.k_proj.weight'}
    with pytest.raises(RuntimeError) as err:
        mmengine_load_state_dict(parent, partial, strict=True)
    # the one missing tensor is reported once, under its owner's name
    assert 'missing keys in source state_dict: mot.ae_layers.1.self_attn.k_proj.weight\n' in str(err.value)
    assert torch.equal(parent.mot.ae_layers[1].self_attn.q_proj.weight, sd['ae_layers.1.self_attn.q_proj.weight'])


def test_registered_joint_layers_equal_transient_ones(tiny_mot, ue_batch):
    """``mot_forward(joint_layers=...)`` (the model's path) equals the ue_layers / ae_layers call."""
    ae_in = torch.randn(2, sum(GROUPS), 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ue_j, ae_j = tiny_mot.forward_joint(ue_batch, ae_in, GROUPS)
        emb = tiny_mot.ue.embed(ue_batch)
        from mmautomot.models.mot import build_task_mask

        mask = build_task_mask(emb['valid'], GROUPS)
        ae_rope = tiny_mot._ae_rope(ae_in, emb['next_position'])
        ue_h, ae_h = mot_forward(
            tiny_mot.ue.layers,
            tiny_mot.ae_layers,
            emb['hidden'],
            ae_in,
            emb['rope'],
            ae_rope,
            mask,
            emb['deepstack'],
            emb['visual_pos_masks'],
        )
    assert torch.equal(tiny_mot.ue.norm(ue_h), ue_j) and torch.equal(tiny_mot.ae_norm(ae_h), ae_j)
    with pytest.raises(ValueError, match='not both'):
        mot_forward(
            tiny_mot.ue.layers, None, emb['hidden'], None, emb['rope'], None, mask, joint_layers=tiny_mot.joint_layers
        )
    ue_only = [JointLayer(layer, None, i) for i, layer in enumerate(tiny_mot.ue.layers)]
    with pytest.raises(ValueError, match='no AE layer'):
        mot_forward(None, None, emb['hidden'], ae_in, emb['rope'], ae_rope, mask, joint_layers=ue_only)
    with pytest.raises(ValueError, match='needs a UE layer, an AE layer or both'):
        JointLayer(None, None, 0)


def test_activation_checkpointing_same_values_and_grads(ue_batch):
    plain = _model().train()
    ckpt = copy.deepcopy(plain)
    ckpt.checkpoint_layers = True
    assert ckpt.checkpoint_layers and not plain.checkpoint_layers
    assert all(jl.with_cp for jl in _model(checkpoint_layers=True).joint_layers)
    ae_in = torch.randn(2, sum(GROUPS), 48, generator=torch.Generator().manual_seed(4))
    calls = []
    hook = ckpt.ae_layers[0].input_layernorm.register_forward_hook(lambda *a: calls.append(1))
    outs = []
    for model in (plain, ckpt):
        _, ae = model.forward_joint(ue_batch, ae_in, GROUPS)
        ae.square().mean().backward()
        outs.append((ae.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    hook.remove()
    assert len(calls) == 2  # forward once, recomputed once in the backward pass
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=0)
    assert outs[0][1].keys() == outs[1][1].keys() and len(outs[0][1]) > 0
    for n, g in outs[0][1].items():
        torch.testing.assert_close(g, outs[1][1][n], rtol=1e-6, atol=1e-7, msg=n)
    # no recomputation without gradients (inference) or while a cache is written
    calls.clear()
    hook = ckpt.ae_layers[0].input_layernorm.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        ckpt.forward_joint(ue_batch, ae_in, GROUPS)
    hook.remove()
    assert len(calls) == 1


def test_frozen_ue_rows_cut_from_the_graph_same_ae_grads(ue_batch):
    """A frozen UE keeps no activations for the backward pass; the AE's values and gradients do not change."""
    frozen = _model().train()
    trainable = copy.deepcopy(frozen)
    trainable.ue.requires_grad_(True)  # the UE rows stay in the graph here
    ae_in = torch.randn(2, sum(GROUPS), 48, generator=torch.Generator().manual_seed(5))
    outs = []
    for model in (frozen, trainable):
        ue, ae = model.forward_joint(ue_batch, ae_in, GROUPS)
        outs.append((ue.requires_grad, ue.detach(), ae.detach()))
        ae.square().mean().backward()
        outs[-1] += ({n: p.grad.clone() for n, p in model.named_parameters() if n.startswith('ae_')},)
    assert not outs[0][0] and outs[1][0]
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=0, atol=0)
    torch.testing.assert_close(outs[0][2], outs[1][2], rtol=0, atol=0)
    assert len(outs[0][3]) == len(list(frozen.ae_layers.parameters())) + 1
    for n, g in outs[0][3].items():
        torch.testing.assert_close(g, outs[1][3][n], rtol=1e-6, atol=1e-8, msg=n)
