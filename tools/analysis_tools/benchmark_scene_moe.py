# Copyright (c) mmautomot contributors. All rights reserved.
"""Latency of the SA-MoE FFN execution modes at batch 1 over the flow steps of one sample; prints JSON.

    python tools/analysis_tools/benchmark_scene_moe.py [--hidden 1024] [--intermediate 2048] [--experts 4]
        [--layers 4] [--tokens 11] [--steps 10] [--repeats 5] [--threads 1] [--out FILE]

One "sample" = the scene vector set once, then ``--steps`` flow steps, each running ``--layers``
:class:`mmautomot.models.moe.SceneMoEFFN` layers on ``--tokens`` Planning-expert tokens (5 ego-state + 6
action tokens by default), under ``torch.no_grad`` (inference). Modes: scene routing with ``mix`` (every
expert run, outputs weighted), ``merge`` (exactly equal: one merged wide FFN per sample, kept over the steps),
``average`` (parameter averaging, not equal: one expert's cost) and the token-level top-k baseline.
Reports the median and min milliseconds per sample over ``--repeats`` runs (after one warm-up) and the max
abs difference of ``merge`` against ``mix``. Timings, not tests: run it on an idle machine.
"""

import argparse
import json
import statistics
import time

import torch

from mmautomot.models.moe import SceneContext, SceneMoEFFN


def build(mode: str, routing: str, args, ctx: SceneContext, state=None):
    layers = []
    for i in range(args.layers):
        torch.manual_seed(i)
        ffn = SceneMoEFFN(
            args.hidden,
            args.intermediate,
            num_experts=args.experts,
            scene_dims=args.scene_dims,
            routing=routing,
            mode=mode,
            top_k=args.top_k,
        )
        ffn.context = ctx
        layers.append(ffn.eval())
    if state is not None:
        for f, s in zip(layers, state):
            f.load_state_dict(s, strict=False)
    return layers


def run_sample(layers, ctx, scene, x, steps):
    ctx.set(scene)
    for _ in range(steps):
        h = x
        for f in layers:
            h = h + f(h)
    return h


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--hidden', type=int, default=1024)
    p.add_argument('--intermediate', type=int, default=2048)
    p.add_argument('--experts', type=int, default=4)
    p.add_argument('--top-k', type=int, default=2)
    p.add_argument('--scene-dims', type=int, default=256)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--tokens', type=int, default=11)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None, help='also write the JSON here')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ctx = SceneContext()
    g = torch.Generator().manual_seed(0)
    scene = torch.randn(1, args.scene_dims, generator=g)
    x = torch.randn(1, args.tokens, args.hidden, generator=g) * 0.1
    ref = build('mix', 'scene', args, ctx)
    states = [f.state_dict() for f in ref]
    variants = {
        'scene_mix': ref,
        'scene_merge': build('merge', 'scene', args, ctx, states),
        'scene_average': build('average', 'scene', args, ctx, states),
        'token_topk': build('mix', 'token', args, ctx),
    }
    result = dict(
        config={k: v for k, v in vars(args).items() if k != 'out'},
        device='cpu',
        torch=torch.__version__,
        ms_per_sample={},
        ms_per_sample_min={},
    )
    outs = {}
    with torch.no_grad():
        for name, layers in variants.items():
            outs[name] = run_sample(layers, ctx, scene, x, args.steps)  # warm-up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                run_sample(layers, ctx, scene, x, args.steps)
                times.append((time.perf_counter() - t0) * 1e3)
            result['ms_per_sample'][name] = round(statistics.median(times), 3)
            result['ms_per_sample_min'][name] = round(min(times), 3)
    result['merge_vs_mix_max_abs_diff'] = float((outs['scene_merge'] - outs['scene_mix']).abs().max())
    result['average_vs_mix_max_abs_diff'] = float((outs['scene_average'] - outs['scene_mix']).abs().max())
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
