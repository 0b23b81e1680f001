# Copyright (c) mmautomot contributors. All rights reserved.
"""Estimate the training memory per GPU of a config on the meta device (no weights, no memory).

Usage::

    python tools/analysis_tools/estimate_memory.py CONFIG --gpus N --batch B [--ue-tokens L] [--ae-tokens L]
        [--cam-size W H] [--json OUT] [--cfg-options k=v ...]

``--batch`` is the per-GPU batch (``train_dataloader.batch_size``). Prints JSON: parameters, FSDP's gathered
working copy, gradients, optimizer states (AdamW) and the joint layer stack's activations per GPU, with and
without activation checkpointing per joint layer (plus the BEV encoder / token / head activations when the
model and the config's ``cam_size`` allow); see :mod:`mmautomot.engine.memory_estimate` for what each
number holds. The strategy (FSDP / DeepSpeed ZeRO / plain DDP) and the bf16 compute dtype come from the
config's ``strategy``. ``main(argv)`` returns the result dict (used by the tests).
"""

import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmautomot.apis import build_model_on_meta, load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Estimate training memory per GPU (meta device)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--gpus', type=int, required=True, help='data-parallel GPUs')
    parser.add_argument('--batch', type=int, required=True, help='samples per GPU')
    parser.add_argument('--ue-tokens', type=int, help='UE tokens per sample (default: from the UE inputs)')
    parser.add_argument('--ae-tokens', type=int, help='AE tokens per sample (default: model.tokens)')
    parser.add_argument(
        '--cam-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        help="camera size of the BEV encoder (default: the config's cam_size)",
    )
    parser.add_argument('--json', help='also write the result to this file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    from mmautomot.engine.memory_estimate import estimate_memory, model_token_counts

    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model_on_meta(cfg)  # shapes only: a pretrained UE folder is neither needed nor read
    tokens = model_token_counts(model)
    ue_tokens = args.ue_tokens or tokens['ue']
    ae_tokens = args.ae_tokens or tokens['ae']
    if ae_tokens is None:
        raise ValueError(f'{args.config}: the model has no `tokens.group_sizes`; pass --ae-tokens')
    cam_size = args.cam_size or cfg.get('cam_size')
    result = estimate_memory(model, args.gpus, args.batch, cfg.get('strategy'), ue_tokens, ae_tokens, cam_size=cam_size)
    result['config'] = osp.abspath(args.config)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            f.write(text)
    return result


if __name__ == '__main__':
    main()
