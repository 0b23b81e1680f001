# Copyright (c) mmautomot contributors. All rights reserved.
"""Closed-loop evaluation on MetaDrive (CPU) with the Bench2Drive agent core and metrics.

    python tools/closed_loop/run_metadrive.py CONFIG [--checkpoint CKPT] --episodes N --seed S --out DIR

Writes ``DIR/results.json`` (``summary``: driving_score, route_completion, success_rate as mean / std
over episodes; ``episodes``) and per-episode logs, BEV plots (and GIFs with a camera) under
``DIR/episodes/``. Needs ``pip install -e .[metadrive]``.

AutoMoT's UE refresh mode and the closed-loop latency come from ``--cfg-options``, e.g. sync vs background
with every action held back by its measured compute time::

    python tools/closed_loop/run_metadrive.py projects/automot/configs/automot_tiny_1xb4-1600i_metadrive.py \
        --checkpoint CKPT --episodes 5 --seed 0 --out DIR \
        --cfg-options driver.driver_kwargs.mode=background episode.latency=measured

Each episode has a wall-clock limit, ``episode.timeout_s`` (default 600 s; ``episode.timeout_s=null`` runs
the episodes in this process without one): an episode past it is killed and recorded as a timeout.
"""

import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='MetaDrive evaluation config (configs/metadrive/*.py)')
    p.add_argument('--checkpoint', default=None, help='model checkpoint (replaces driver.checkpoint)')
    p.add_argument('--episodes', type=int, default=5, help='number of episodes (seeds S .. S+N-1)')
    p.add_argument('--seed', type=int, default=0, help='first scenario seed')
    p.add_argument('--out', required=True, help='output folder (results.json, episodes/)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='override config keys, e.g. env.traffic_density=0.2 episode.max_steps=400',
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from mmengine.config import Config, DictAction  # noqa: F401

    from mmautomot.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    if not osp.isfile(args.config):
        print(f'run_metadrive: config {args.config} not found', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        opts = {}
        for item in args.cfg_options:
            key, _, value = item.partition('=')
            try:
                opts[key] = json.loads(value)
            except json.JSONDecodeError:
                opts[key] = value
        cfg.merge_from_dict(opts)
    for key in ('agent', 'driver'):
        if key not in cfg:
            print(f'run_metadrive: {args.config} has no {key!r} dict', file=sys.stderr)
            return 2
    import torch

    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    from mmautomot.closed_loop.metadrive.evaluate import evaluate

    out = evaluate(
        cfg.to_dict(), args.episodes, args.seed, args.out, checkpoint=args.checkpoint, progress=not args.no_progress
    )
    s = out['summary']
    fmt = lambda d: 'n/a' if d['mean'] is None else f'{d["mean"]:.2f} +- {d["std"]:.2f}'  # noqa: E731
    print(
        json.dumps(
            dict(
                driving_score=fmt(s['driving_score']),
                route_completion=fmt(s['route_completion']),
                success_rate=fmt(s['success_rate']),
                episodes=s['num_episodes'],
                failures=len(s['failures']),
                comfort=s['comfort'],
                results=osp.join(args.out, 'results.json'),
            )
        )
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
