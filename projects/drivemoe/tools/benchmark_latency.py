# Copyright (c) mmautomot contributors. All rights reserved.
"""DriveMoE latency (batch 1, random weights): one routed view vs all views; prefix cache vs recompute.

Usage::

    python projects/drivemoe/tools/benchmark_latency.py CONFIG [--iters 5] [--warmup 1] [--json OUT]
        [--cfg-options k=v ...]

Prints one JSON object (see ``projects.drivemoe.drivemoe.benchmark.benchmark_drivemoe``). Image size: the
config's ``benchmark_inputs.img_size`` (H, W), else the VLM's ``image_size``.
"""

import argparse
import json
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, REPO)

from mmengine.config import Config, DictAction  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--json', help='also write the result to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmengine.registry import init_default_scope

    import projects.drivemoe.drivemoe  # noqa: F401
    from projects.drivemoe.drivemoe.benchmark import benchmark_drivemoe

    init_default_scope(cfg.get('default_scope', 'mmautomot'))
    img_size = cfg.get('benchmark_inputs', {}).get('img_size') or cfg.model.mot.ue.get('image_size', (224, 224))
    res = benchmark_drivemoe(cfg.model.to_dict(), iters=args.iters, warmup=args.warmup, img_size=tuple(img_size))
    res['config'] = args.config
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(text + '\n')
    return res


if __name__ == '__main__':
    main()
