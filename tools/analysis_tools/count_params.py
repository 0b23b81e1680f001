# Copyright (c) mmautomot contributors. All rights reserved.
"""Count the parameters of a model per expert (understanding expert, action expert, rest).

Usage::

    python tools/analysis_tools/count_params.py CONFIG [--meta] [--json OUT] [--cfg-options k=v ...]

Paper-scale configs (e.g. Qwen3-VL-4B + a 1.6B action expert) are built on the ``meta`` device, which allocates
no memory and loads no weights: automatically when the config sets ``build_on_meta = True`` or names a pretrained
UE folder (``model.mot.ue.pretrained``), or with ``--meta``. The model's ``count_params()`` gives the per-expert
split (``ue_params``, ``ae_params``, ...); without it only ``total_params`` is reported. ``main(argv)`` returns the
result dict (used by the tests). The loading and counting live in :mod:`mmautomot.apis.config_loading`.
"""

import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmautomot.apis import build_model_on_meta, count_params, init_model, load_config  # noqa: E402


def wants_meta(cfg: Config) -> bool:
    """Whether a config asks to be built on the meta device (``build_on_meta`` or a pretrained UE folder)."""
    if cfg.get('build_on_meta', False):
        return True
    ue = cfg.get('model', {}).get('mot', {}).get('ue', {})
    return bool(isinstance(ue, dict) and ue.get('pretrained'))


def format_counts(counts: Dict[str, int], meta: bool) -> str:
    lines = [f'{"part":<16}{"parameters":>16}{"":>4}{"(M)":>10}']
    for key, value in counts.items():
        lines.append(f'{key:<16}{value:>16,}{"":>4}{value / 1e6:>10.2f}')
    lines.append(f'built on: {"meta device (no weights)" if meta else "cpu"}')
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Count parameters per expert')
    parser.add_argument('config', help='config file')
    parser.add_argument('--meta', action='store_true', help='build on the meta device')
    parser.add_argument('--json', help='write the counts to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    meta = args.meta or wants_meta(cfg)
    model = build_model_on_meta(cfg) if meta else init_model(cfg)
    counts = count_params(model)
    print(format_counts(counts, meta))
    result = dict(counts, config=osp.abspath(args.config), meta=meta)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
