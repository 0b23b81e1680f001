# Copyright (c) mmautomot contributors. All rights reserved.
"""A direct re-implementation, for the tests, of the released AutoMoT joint layer (packed sequence, one
sample, released key names), written from the description of its padded attention: per-expert norms and
projections, AE q/k/v zero-padded into the UE's head slots, q/k norm over the AE head size, one full-size
rotary on the padded q and k, then either the training path (GQA expansion keeping AE keys/values in
heads [:h] and dims [:d]) or the cached-inference path (AE keys zeroed beyond d, repeat of the padded KV
heads); AE output projection over heads [:h], dims [:d]."""

import torch
import torch.nn.functional as F
from transformers.models.qwen3_vl.modeling_qwen3_vl import apply_rotary_pos_emb


def rms(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def swiglu(x, p, sd):
    return F.linear(
        F.silu(F.linear(x, sd[p + 'gate_proj.weight'])) * F.linear(x, sd[p + 'up_proj.weight']),
        sd[p + 'down_proj.weight'],
    )


def released_layer(sd, i, x, n_und, cos, sin, mask, geo, path='train'):
    """One decoder layer. x: (N, C) packed (UE tokens first); cos/sin (N, D); mask (N, N) float."""
    p = f'language_model.model.layers.{i}.'
    H, KV, D, h, kv, d = (geo[k] for k in ('H', 'KV', 'D', 'h', 'kv', 'd'))
    n = x.shape[0]
    und, gen = slice(0, n_und), slice(n_und, n)
    xn = torch.cat(
        [rms(x[und], sd[p + 'input_layernorm.weight']), rms(x[gen], sd[p + 'input_layernorm_mot_gen.weight'])]
    )
    q, k, v = x.new_zeros(n, H, D), x.new_zeros(n, KV, D), x.new_zeros(n, KV, D)
    q[und] = F.linear(xn[und], sd[p + 'self_attn.q_proj.weight']).view(-1, H, D)
    k[und] = F.linear(xn[und], sd[p + 'self_attn.k_proj.weight']).view(-1, KV, D)
    v[und] = F.linear(xn[und], sd[p + 'self_attn.v_proj.weight']).view(-1, KV, D)
    q[gen, :h, :d] = F.linear(xn[gen], sd[p + 'self_attn.q_proj_mot_gen.weight']).view(-1, h, d)
    k[gen, :kv, :d] = F.linear(xn[gen], sd[p + 'self_attn.k_proj_mot_gen.weight']).view(-1, kv, d)
    v[gen, :kv, :d] = F.linear(xn[gen], sd[p + 'self_attn.v_proj_mot_gen.weight']).view(-1, kv, d)
    qn, kn = torch.zeros_like(q), torch.zeros_like(k)
    qn[und] = rms(q[und], sd[p + 'self_attn.q_norm.weight'])
    kn[und] = rms(k[und], sd[p + 'self_attn.k_norm.weight'])
    qn[gen, :h, :d] = rms(q[gen, :h, :d], sd[p + 'self_attn.q_norm_mot_gen.weight'])
    kn[gen, :kv, :d] = rms(k[gen, :kv, :d], sd[p + 'self_attn.k_norm_mot_gen.weight'])
    qn, kn = apply_rotary_pos_emb(qn, kn, cos, sin, unsqueeze_dim=1)
    if path in ('train', 'nocut'):  # 'nocut': a wrong variant (AE keys keep dims d..D), for the tests
        K, V = x.new_zeros(n, H, D), x.new_zeros(n, H, D)
        K[und] = kn[und].repeat_interleave(H // KV, dim=1)
        V[und] = v[und].repeat_interleave(H // KV, dim=1)
        kd = D if path == 'nocut' else d
        K[gen, :h, :kd] = kn[gen, :kv, :kd].repeat_interleave(h // kv, dim=1)
        V[gen, :h, :d] = v[gen, :kv, :d].repeat_interleave(h // kv, dim=1)
    else:
        kn = kn.clone()
        kn[gen, :, d:] = 0
        K, V = kn.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
    att = F.scaled_dot_product_attention(
        qn.transpose(0, 1)[None], K.transpose(0, 1)[None], V.transpose(0, 1)[None], attn_mask=mask
    )[0].transpose(0, 1)
    o = torch.cat(
        [
            F.linear(att[und].reshape(-1, H * D), sd[p + 'self_attn.o_proj.weight']),
            F.linear(att[gen, :h, :d].reshape(-1, h * d), sd[p + 'self_attn.o_proj_mot_gen.weight']),
        ]
    )
    x = x + o
    m = torch.cat(
        [
            swiglu(rms(x[und], sd[p + 'post_attention_layernorm.weight']), p + 'mlp.', sd),
            swiglu(rms(x[gen], sd[p + 'post_attention_layernorm_mot_gen.weight']), p + 'mlp_mot_gen.', sd),
        ]
    )
    return x + m


def released_mask(n_und, group_sizes, ue_full=None):
    """(N, N) float mask: UE causal (plus bidirectional UE spans given as (start, end) pairs); AE group g sees
    every UE token, earlier groups and itself."""
    n = n_und + sum(group_sizes)
    allow = torch.zeros(n, n, dtype=torch.bool)
    allow[:n_und, :n_und] = torch.ones(n_und, n_und).tril().bool()
    for s, e in ue_full or []:
        allow[s:e, s:e] = True
    start = n_und
    for g in group_sizes:
        allow[start : start + g, : start + g] = True
        start += g
    return torch.zeros(n, n).masked_fill(~allow, float('-inf'))


def released_forward(
    sd, ue_hidden, ae_hidden, cos, sin, deepstack, vis_mask, group_sizes, geo, num_layers, path='train', ue_full=None
):
    """Whole joint pass of one sample; returns the final-normed AE states (L_a, C)."""
    n_und = ue_hidden.shape[0]
    x = torch.cat([ue_hidden, ae_hidden])
    mask = released_mask(n_und, group_sizes, ue_full)
    for i in range(num_layers):
        x = released_layer(sd, i, x, n_und, cos, sin, mask, geo, path)
        if i < len(deepstack):
            x = x.clone()
            x[:n_und][vis_mask] = x[:n_und][vis_mask] + deepstack[i]
    return rms(x[n_und:], sd['language_model.model.norm_mot_gen.weight'])
