# Copyright (c) mmautomot contributors. All rights reserved.
"""Count the parameters of a model per expert (understanding expert, action expert, rest).

Usage::

    python tools/analysis_tools/get_flops_params.py CONFIG [--meta] [--json OUT] [--cfg-options k=v ...]

Paper-scale configs (e.g. Qwen3-VL-4B + a 1.6B action expert) are built on the ``meta`` device, which
allocates no memory and loads no weights: automatically when the config sets ``count_params_on_meta=True``
or names a pretrained UE folder (``model.mot.ue.pretrained``), or with ``--meta``. The model must expose
``count_params() -> dict(ue_params, ae_params, total_params, ...)``; without it only ``total_params`` is
reported. ``main(argv)`` returns the result dict (used by the tests).

The loading helpers (:func:`load_config`, :func:`build_model`) are shared with ``benchmark_latency.py``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, DictAction

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and run its ``custom_imports`` (project code)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)  # so `custom_imports=['projects.automot.automot']` resolves
    cfg = Config.fromfile(path)
    if cfg_options:
        from mmautomot.engine.tool_config import check_cfg_options_keys
        check_cfg_options_keys(cfg, cfg_options, path)  # a mistyped top-level key fails
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmautomot'))
    return cfg


def wants_meta(cfg: Config) -> bool:
    """Whether a config asks to be counted on the meta device (see the module docstring)."""
    if cfg.get('count_params_on_meta', False):
        return True
    ue = cfg.get('model', {}).get('mot', {}).get('ue', {})
    return bool(isinstance(ue, dict) and ue.get('pretrained'))


def build_model(cfg: Config, checkpoint: Optional[str] = None, device: str = 'cpu', meta: bool = False):
    """Build ``cfg.model``: with ``mmautomot.apis.init_model`` when it exists, else from the registry.

    With ``meta=True`` the model is built under ``torch.device('meta')``, with no pretrained weights
    (``model.mot.ue.pretrained`` is dropped: only shapes are needed; the UE ``config`` must then be given
    in the config or be readable from the folder's ``config.json``).
    """
    from mmautomot.registry import MODELS
    if meta:
        model_cfg = cfg.model.copy()
        with torch.device('meta'):
            model = MODELS.build(model_cfg)
        return model.eval()
    try:
        from mmautomot.apis import init_model
    except ImportError:
        init_model = None
    if init_model is not None:
        return init_model(cfg, checkpoint, device=device).eval()
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval()


def count_params(model) -> Dict[str, int]:
    """The model's own per-expert counts (``count_params``) plus ``total_params``."""
    total = sum(p.numel() for p in model.parameters())
    counts = dict(model.count_params()) if hasattr(model, 'count_params') else {}
    counts.setdefault('total_params', total)
    if counts['total_params'] != total:
        raise RuntimeError(f"count_params() reports total_params={counts['total_params']} but the model "
                           f'has {total} parameters')
    return {k: int(v) for k, v in counts.items()}


def format_counts(counts: Dict[str, int], meta: bool) -> str:
    lines = [f"{'part':<16}{'parameters':>16}{'':>4}{'(M)':>10}"]
    for key, value in counts.items():
        lines.append(f'{key:<16}{value:>16,}{"":>4}{value / 1e6:>10.2f}')
    lines.append(f"built on: {'meta device (no weights)' if meta else 'cpu'}")
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
    if meta:
        ue = cfg.model.get('mot', {}).get('ue', {})
        if isinstance(ue, dict) and ue.get('pretrained') and (ue.get('config') or ue.get('preset')) is not None:
            cfg.model.mot.ue.pretrained = None  # shapes come from the config; no weights on meta
    model = build_model(cfg, meta=meta)
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
