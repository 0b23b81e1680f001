# Copyright (c) mmautomot contributors. All rights reserved.
"""The released AutoMoT layout: padded AE attention, tokens/heads, converter, equivalence with a direct
re-implementation of the released padded attention (released_reference.py)."""

import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from released_reference import released_forward

from mmautomot.registry import MODELS
from mmautomot.testing import demo_driving_batch as make_batch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG = osp.join(REPO, 'projects/automot/configs/automot-released_tiny_1xb2-200i_nuscenes-e2e.py')
TOOL = osp.join(REPO, 'tools/model_converters/automot_official_to_mmautomot.py')
GEO = dict(H=4, KV=2, D=32, h=2, kv=1, d=16)  # tiny UE slots and AE heads
C, NL = 64, 3
# the released data packing after the UE prefix: full blocks [BEV] [2 target points + velocity] [8 reasoning]
# [20 route] [6 waypoints], each seeing itself and the earlier blocks
RELEASED_BLOCKS = (64, 3, 8, 20, 6)


def released_model_cfg():
    model = Config.fromfile(CFG).model.to_dict()
    model.pop('data_preprocessor', None)
    model['mot']['ue']['image_size'] = (32, 64)
    model['bev_encoder']['bev'] = dict(x_range=(-8.0, 8.0), y_range=(-8.0, 8.0), resolution=0.5)
    return model


def build(seed=0, **over):
    import projects.automot.automot  # noqa: F401

    torch.manual_seed(seed)
    cfg = released_model_cfg()
    for k, v in over.items():
        cfg[k] = dict(cfg[k], **v)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def released_model():
    return build()


def released_state_dict(model, seed=5):
    """A checkpoint under the released names with the tiny shapes (UE tensors renamed from ``model``)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    def norm(n):
        return 1.0 + r(n)

    sd = {}
    for k, v in model.mot.ue.state_dict().items():
        if k.startswith('hf.model.language_model.'):
            sd['language_model.model.' + k[len('hf.model.language_model.') :]] = v.clone()
        elif k.startswith('hf.model.visual.'):
            sd['vision_model.' + k[len('hf.model.visual.') :]] = v.clone()
    h, kv, d, ffn = GEO['h'], GEO['kv'], GEO['d'], 96
    for i in range(NL):
        p = f'language_model.model.layers.{i}.'
        sd[p + 'self_attn.q_proj_mot_gen.weight'] = r(h * d, C)
        sd[p + 'self_attn.k_proj_mot_gen.weight'] = r(kv * d, C)
        sd[p + 'self_attn.v_proj_mot_gen.weight'] = r(kv * d, C)
        sd[p + 'self_attn.o_proj_mot_gen.weight'] = r(C, h * d)
        sd[p + 'self_attn.q_norm_mot_gen.weight'] = norm(d)
        sd[p + 'self_attn.k_norm_mot_gen.weight'] = norm(d)
        sd[p + 'input_layernorm_mot_gen.weight'] = norm(C)
        sd[p + 'post_attention_layernorm_mot_gen.weight'] = norm(C)
        sd[p + 'mlp_mot_gen.gate_proj.weight'] = r(ffn, C)
        sd[p + 'mlp_mot_gen.up_proj.weight'] = r(ffn, C)
        sd[p + 'mlp_mot_gen.down_proj.weight'] = r(C, ffn)
    sd['language_model.model.norm_mot_gen.weight'] = norm(C)
    sd['bev_encoder_proj.weight'], sd['bev_encoder_proj.bias'] = r(C, 24), r(C)
    for name, dims in (('target_point_encoder.mlp', (2, 16, 32, C)), ('velocity_encoder', (1, 16, 32, C))):
        for j, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            sd[f'{name}.{2 * j}.weight'], sd[f'{name}.{2 * j}.bias'] = r(b, a), r(b)
    for kind, n in (('reasoning', 8), ('route', 20), ('waypoint', 6)):
        sd[f'{kind}_queries.weight'] = r(n, 12, scale=1.0)
        sd[f'{kind}_projector.fc1.weight'], sd[f'{kind}_projector.fc1.bias'] = r(C, 12), r(C)
        sd[f'{kind}_projector.fc2.weight'], sd[f'{kind}_projector.fc2.bias'] = r(C, C), r(C)
    for head in ('route_head', 'waypoints_head'):
        sd[f'{head}.mlp.0.weight'], sd[f'{head}.mlp.0.bias'] = r(32, C), r(32)
        sd[f'{head}.mlp.2.weight'], sd[f'{head}.mlp.2.bias'] = r(16, 32), r(16)
        sd[f'{head}.mlp.4.weight'] = r(2, 16)
        sd[f'{head}.query'] = r(1, 20 if head == 'route_head' else 6, C)
    sd['velocity_head.0.weight'], sd['velocity_head.0.bias'] = r(C, C), r(C)
    sd['velocity_head.2.weight'], sd['velocity_head.2.bias'] = r(3, C), r(3)
    return sd


@pytest.fixture(scope='module')
def converted(tmp_path_factory, released_model):
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp('released')
    sd = released_state_dict(released_model)
    os.makedirs(root / 'src')
    save_file({k: v.contiguous() for k, v in sd.items()}, str(root / 'src' / 'ema.safetensors'))
    dst = str(root / 'automot_mm.safetensors')
    proc = run_tool_in_process([str(root / 'src'), dst, '--config', CFG])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'dropped route_head.query' in proc.stdout and 'UNMAPPED' not in proc.stderr
    model = build(seed=1)
    from projects.automot.automot.official_converter import load_released_weights

    missing = load_released_weights(model, dst)
    assert missing and all(k.startswith('bev_encoder.') for k in missing)  # trained apart in the release
    return sd, model.eval(), root


def test_padded_layer_geometry_and_key_cut():
    from mmautomot.models.mot import PaddedActionExpertLayer

    torch.manual_seed(0)
    layer = PaddedActionExpertLayer(
        64, 96, num_heads=2, num_kv_heads=1, head_dim=16, ue_num_heads=4, ue_num_kv_heads=2, ue_head_dim=32
    )
    x = torch.randn(2, 5, 64)
    ang = torch.rand(2, 5, 16) * 3
    rope = (torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1))
    q, k, v = layer.mot_qkv(x, rope)
    assert q.shape == (2, 4, 5, 32) and k.shape == v.shape == (2, 2, 5, 32)
    assert q[:, 2:].abs().max() == 0 and k[:, 1:].abs().max() == 0 and v[:, 1:].abs().max() == 0
    assert q[:, :2, :, 16:].abs().max() > 1e-3  # the 32-d rotary fills the padded query dims ...
    assert k[..., 16:].abs().max() == 0 and v[..., 16:].abs().max() == 0  # ... and the keys are cut back
    out = torch.randn(2, 5, 4 * 32)
    ref = x + layer.self_attn.o_proj(out.view(2, 5, 4, 32)[:, :, :2, :16].reshape(2, 5, 32))
    ref = ref + layer.mlp(layer.post_attention_layernorm(ref))
    torch.testing.assert_close(layer.mot_finish(x, out), ref)
    with pytest.raises(ValueError, match='GQA group'):
        PaddedActionExpertLayer(
            64, 96, num_heads=2, num_kv_heads=2, head_dim=16, ue_num_heads=4, ue_num_kv_heads=2, ue_head_dim=32
        )
    with pytest.raises(ValueError, match='do not fit'):
        PaddedActionExpertLayer(
            64, 96, num_heads=2, num_kv_heads=1, head_dim=48, ue_num_heads=4, ue_num_kv_heads=2, ue_head_dim=32
        )


def test_converter_maps_every_released_tensor(converted):
    sd, model, _ = converted
    ours = model.state_dict()
    pairs = {
        'language_model.model.layers.2.self_attn.q_proj_mot_gen.weight': 'mot.ae_layers.2.self_attn.q_proj.weight',
        'language_model.model.layers.0.self_attn.k_norm_mot_gen.weight': 'mot.ae_layers.0.self_attn.k_norm.weight',
        'language_model.model.layers.1.post_attention_layernorm_mot_gen.weight': (
            'mot.ae_layers.1.post_attention_layernorm.weight'
        ),
        'language_model.model.layers.1.mlp_mot_gen.down_proj.weight': 'mot.ae_layers.1.mlp.down_proj.weight',
        'language_model.model.norm_mot_gen.weight': 'mot.ae_norm.weight',
        'language_model.model.layers.1.self_attn.q_proj.weight': (
            'mot.ue.hf.model.language_model.layers.1.self_attn.q_proj.weight'
        ),
        'bev_encoder_proj.bias': 'tokens.bev_proj.bias',
        'target_point_encoder.mlp.4.weight': 'tokens.target_point_encoder.4.weight',
        'velocity_encoder.0.weight': 'tokens.velocity_encoder.0.weight',
        'route_queries.weight': 'tokens.route_queries.weight',
        'waypoint_projector.fc2.bias': 'tokens.waypoint_projector.fc2.bias',
        'route_head.mlp.4.weight': 'path_head.mlp.4.weight',
        'waypoints_head.mlp.0.bias': 'traj_head.mlp.0.bias',
        'velocity_head.2.weight': 'velocity_head.mlp.2.weight',
    }
    for src, dst in pairs.items():
        assert torch.equal(sd[src], ours[dst]), (src, dst)
    from projects.automot.automot.official_converter import convert_state_dict

    out, unmapped, dropped = convert_state_dict(sd)
    assert not unmapped and set(dropped) == {'route_head.query', 'waypoints_head.query'}
    assert len(out) == len(sd) - 2
    for k, v in out.items():
        assert torch.equal(ours[k], v), k
    # the tied lm_head follows the loaded embeddings
    core = model.mot.ue.core
    assert core.lm_head.weight.data_ptr() == core.get_input_embeddings().weight.data_ptr()


def run_tool_in_process(args):
    """The tool's ``main`` in this process (a subprocess costs ~20 s of imports on this machine)."""
    import contextlib
    import importlib.util
    import io

    spec = importlib.util.spec_from_file_location('automot_official_to_mmautomot', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = tool.main(args)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_converter_reports_unmapped_keys(converted, tmp_path):
    from safetensors.torch import save_file

    sd, _, _ = converted
    bad = dict(sd)
    bad['language_model.model.layers.0.self_attn.extra_mot_gen.weight'] = torch.zeros(2)
    bad['some_new_head.weight'] = torch.zeros(3)
    save_file({k: v.contiguous() for k, v in bad.items()}, str(tmp_path / 'model.safetensors'))
    dst = str(tmp_path / 'out.pth')
    proc = run_tool_in_process([str(tmp_path), dst])
    assert proc.returncode == 1 and not osp.exists(dst)
    assert 'UNMAPPED language_model.model.layers.0.self_attn.extra_mot_gen.weight (2,)' in proc.stderr
    assert 'UNMAPPED some_new_head.weight (3,)' in proc.stderr and '2 key(s)' in proc.stderr
    proc = run_tool_in_process([str(tmp_path), dst, '--allow-unmapped'])
    assert proc.returncode == 0, proc.stderr
    ckpt = torch.load(dst, weights_only=True)
    assert torch.equal(ckpt['state_dict']['mot.ae_norm.weight'], sd['language_model.model.norm_mot_gen.weight'])
    # the command line itself (argument parsing happens before any heavy import)
    cli = subprocess.run(
        [sys.executable, TOOL, '--help'],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    assert cli.returncode == 0 and '--allow-unmapped' in cli.stdout and 'SRC' not in cli.stderr
    with pytest.raises(FileNotFoundError, match='nowhere.*does not exist'):
        run_tool_in_process([str(tmp_path / 'nowhere'), dst])


def _per_sample_reference(model, sd, inputs, samples, path):
    """Released re-implementation per sample (packed, UE padding dropped)."""
    ue_batch = model.ue_inputs(inputs, samples)
    ae_in = model.ae_inputs(inputs)
    emb = model.mot.ue.embed(ue_batch)
    assert model.tokens.group_sizes == RELEASED_BLOCKS
    groups = RELEASED_BLOCKS
    pos = emb['next_position'][:, None] + torch.arange(ae_in.shape[1])
    ae_cos, ae_sin = model.mot.ue.rotary_emb(ae_in, pos[None].expand(3, -1, -1))
    vis_counts = emb['visual_pos_masks'].sum(1).tolist()
    outs, start = [], 0
    for b in range(ae_in.shape[0]):
        valid = emb['valid'][b]
        vis = emb['visual_pos_masks'][b][valid]
        ds = [f[start : start + vis_counts[b]] for f in emb['deepstack']]
        start += vis_counts[b]
        cos = torch.cat([emb['rope'][0][b][valid], ae_cos[b]])
        sin = torch.cat([emb['rope'][1][b][valid], ae_sin[b]])
        outs.append(
            released_forward(sd, emb['hidden'][b][valid], ae_in[b], cos, sin, ds, vis, groups, GEO, NL, path=path)
        )
    return torch.stack(outs), ue_batch, ae_in


def test_converted_model_equals_released_padded_attention(converted):
    """Joint pass (training path) and AE tick on the cache (inference path) equal the re-implementation."""
    sd, model, _ = converted
    inputs, samples = make_batch(seed=3)
    samples[0].set_metainfo(dict(prompt='go'))  # right padding in sample 0
    samples[1].set_metainfo(dict(prompt='turn left at the next junction please'))
    with torch.no_grad():
        ref_train, ue_batch, ae_in = _per_sample_reference(model, sd, inputs, samples, 'train')
        ref_infer, _, _ = _per_sample_reference(model, sd, inputs, samples, 'infer')
        _, joint = model.mot.forward_joint(ue_batch, ae_in, model.tokens.group_sizes)
        tick = model.mot.ae_step(ae_in, model.mot.ue_refresh(ue_batch), model.tokens.group_sizes)
    err_paths = (ref_train - ref_infer).abs().max().item()
    err_joint = (joint - ref_train).abs().max().item()
    err_tick = (tick - ref_infer).abs().max().item()
    print(
        f'released padded attention: |train - infer| {err_paths:.2e}, |joint - ref| {err_joint:.2e}, '
        f'|tick - ref| {err_tick:.2e} (scale {ref_train.abs().max().item():.2f})'
    )
    assert err_paths < 1e-5 and err_joint < 1e-5 and err_tick < 1e-5
    # not vacuous: AE keys that kept their rotated dims d..D would give another result
    ref_nocut, _, _ = _per_sample_reference(model, sd, inputs, samples, 'nocut')
    assert (ref_nocut - joint).abs().max() > 1e-3


def test_heads_follow_the_released_formulas(converted):
    sd, model, _ = converted
    feats = torch.randn(3, 20, C)
    mlp = torch.nn.Sequential(*[m for m in model.path_head.mlp])
    packed = mlp(feats.reshape(-1, C))  # the released route head runs on packed (B * 20, C) tokens
    released_route = packed.cumsum(dim=1).view(3, 20, 2)  # ... and sums over the coordinate axis
    model.path_head.released_cumsum_quirk = True
    try:
        torch.testing.assert_close(model.path_head(feats), released_route)
    finally:
        model.path_head.released_cumsum_quirk = False
    torch.testing.assert_close(model.path_head(feats), packed.view(3, 20, 2).cumsum(dim=1))
    # waypoints: released L1 on offsets with weights 3,3,2,2,1,1 over B * sum(w) * 2, times 2.0
    wfeats = torch.randn(3, 6, C)
    offsets = model.traj_head.mlp(wfeats)
    gt = torch.randn(3, 6, 2).cumsum(1)
    gt_off = torch.cat([gt[:, :1], gt[:, 1:] - gt[:, :-1]], 1)
    w = torch.tensor([3.0, 3, 2, 2, 1, 1]).view(1, 6, 1)
    released = ((offsets - gt_off).abs() * w).sum() / (w.sum() * 3 * 2)
    pred = model.traj_head(wfeats)
    torch.testing.assert_close(pred, offsets.cumsum(1))
    torch.testing.assert_close(model.traj_head.loss(pred, gt)['loss_traj'], 2.0 * released)
    # route: released F.l1_loss on points
    route = model.path_head(feats)
    gt_route = torch.randn(3, 20, 2)
    torch.testing.assert_close(
        model.path_head.loss(route, gt_route, prefix='path')['loss_path'], torch.nn.functional.l1_loss(route, gt_route)
    )
    with pytest.raises(ValueError, match='released_cumsum_quirk'):
        MODELS.build(
            dict(
                type='ReleasedTrajectoryHead',
                in_channels=8,
                num_points=6,
                loss_on='offsets',
                released_cumsum_quirk=True,
            )
        )


def test_decisions_read_by_the_ue_lm_head(converted):
    _, model, _ = converted
    tokens = torch.randn(2, 8, C)
    logits = model.meta_action_head(tokens)
    vocab = torch.log_softmax(model.mot.ue.core.lm_head(tokens), -1)
    lat_ids, lon_ids = [76, 108, 83, 114, 82], [115, 100, 107, 97]
    torch.testing.assert_close(logits[:, :, :5], vocab[:, [0, 2, 4]][..., lat_ids])
    torch.testing.assert_close(logits[:, :, 5:], vocab[:, [1, 3, 5]][..., lon_ids])
    gt = torch.tensor([[[1, 2], [0, -1], [4, 3]], [[2, 2], [3, 0], [-1, -1]]])
    ce = torch.nn.functional.cross_entropy
    full = model.mot.ue.core.lm_head(tokens)
    terms = []
    for b in range(2):
        for k in range(3):
            if gt[b, k, 0] >= 0:
                terms.append(ce(full[b, 2 * k], torch.tensor(lat_ids[gt[b, k, 0]])))
            if gt[b, k, 1] >= 0:
                terms.append(ce(full[b, 2 * k + 1], torch.tensor(lon_ids[gt[b, k, 1]])))
    torch.testing.assert_close(
        model.meta_action_head.loss(logits, gt)['loss_decision'], 0.4 * torch.stack(terms).mean()
    )
    assert 'lm_head' not in ''.join(n for n, _ in model.meta_action_head.named_parameters())


def test_released_model_trains_predicts_and_ticks(released_model):
    model = released_model.train()
    inputs, samples = make_batch(seed=4)
    assert not any(p.requires_grad for p in model.mot.ue.parameters())
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    first = None
    for _ in range(15):
        losses = model(inputs, samples, mode='loss')
        total = sum(losses.values())
        first = total.item() if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert set(losses) == {'loss_decision', 'loss_path', 'loss_traj', 'loss_velocity'}
    assert total.item() < 0.8 * first, (first, total.item())
    model.eval()
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
        tick = model.ae_tick(inputs, model.ue_tick(inputs, data_samples=samples))
    torch.testing.assert_close(
        tick['waypoints'], torch.stack([d.pred_ego_fut_trajs for d in out]), atol=1e-5, rtol=1e-5
    )
    assert torch.equal(tick['meta_actions'], torch.stack([d.pred_meta_actions for d in out]))
    assert tick['velocity'].shape == (2, 3)


def _spans_by_hand(ids, im_end, vs=256, ve=257):
    """(start, end) pairs of the image blocks and of the instruction block after the last image."""
    ids = ids.tolist()
    starts = [i for i, t in enumerate(ids) if t == vs]
    ends = [i for i, t in enumerate(ids) if t == ve]
    images = [(s, e + 1) for s, e in zip(starts, ends)]
    close = ids.index(im_end, ends[-1] + 1)
    return images, (ends[-1] + 1, close + 1)


def test_released_ue_attention_quirk(converted):
    """ue_attention='released': image blocks bidirectional; the instruction block after the images
    bidirectional in training mode only (the released train/inference mismatch)."""
    sd, model, _ = converted
    inputs, samples = make_batch(seed=6)
    im_end = model.mot.ue.tokenizer.encode('<|im_end|>')[0]
    model.mot.ue_attention = 'released'
    try:
        with torch.no_grad():
            ue_batch, ae_in = model.ue_inputs(inputs, samples), model.ae_inputs(inputs)
            groups = model.tokens.group_sizes
            model.train()
            joint_train = model.mot.forward_joint(ue_batch, ae_in, groups)[1]
            model.eval()
            joint_eval = model.mot.forward_joint(ue_batch, ae_in, groups)[1]
            tick = model.mot.ae_step(ae_in, model.mot.ue_refresh(ue_batch), groups)
            emb = model.mot.ue.embed(ue_batch)
            pos = emb['next_position'][:, None] + torch.arange(ae_in.shape[1])
            ae_cos, ae_sin = model.mot.ue.rotary_emb(ae_in, pos[None].expand(3, -1, -1))
            n_vis = emb['visual_pos_masks'].sum(1).tolist()
            start = 0
            for b in range(2):
                valid = emb['valid'][b]
                images, instr = _spans_by_hand(ue_batch['input_ids'][b][valid], im_end)
                ds = [f[start : start + n_vis[b]] for f in emb['deepstack']]
                start += n_vis[b]
                args = (
                    sd,
                    emb['hidden'][b][valid],
                    ae_in[b],
                    torch.cat([emb['rope'][0][b][valid], ae_cos[b]]),
                    torch.cat([emb['rope'][1][b][valid], ae_sin[b]]),
                    ds,
                    emb['visual_pos_masks'][b][valid],
                    RELEASED_BLOCKS,
                    GEO,
                    NL,
                )
                ref_train = released_forward(*args, path='train', ue_full=images + [instr])
                ref_eval = released_forward(*args, path='infer', ue_full=images)
                torch.testing.assert_close(joint_train[b], ref_train, atol=1e-5, rtol=1e-5)
                torch.testing.assert_close(joint_eval[b], ref_eval, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(tick, joint_eval, atol=1e-5, rtol=1e-5)
        assert (joint_train - joint_eval).abs().max() > 1e-4
    finally:
        model.mot.ue_attention = 'causal'
        model.eval()
