# Copyright (c) mmautomot contributors. All rights reserved.
"""The one way to read a config and build its model outside the Runner (inference, analysis tools).

``tools/train.py`` / ``tools/test.py`` use :func:`mmautomot.engine.load_tool_config`, which calls
:func:`load_config` and adds the work dir and launcher; :func:`mmautomot.apis.init_model` and the analysis tools
(``count_params.py``, ``benchmark_latency.py``, ``estimate_memory.py``) call it directly.
"""

import difflib
import inspect
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmautomot.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def repo_root_on_path() -> None:
    """Make ``projects.*`` (imported by configs' ``custom_imports``) importable from any working dir."""
    if osp.isdir(osp.join(REPO_ROOT, 'projects')) and REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)


def known_top_level_keys(cfg: Config) -> List[str]:
    """Top-level keys a config may set: its own keys plus every argument MMEngine's runners accept."""
    from mmengine.runner import FlexibleRunner, Runner

    keys = set(cfg.keys())
    for cls in (Runner, FlexibleRunner):
        keys.update(p for p in inspect.signature(cls.__init__).parameters if p not in ('self', 'cfg'))
    keys.update(('runner_type', 'launcher', 'custom_imports', 'ue_refresh', 'scheduler', 'build_on_meta'))
    return sorted(keys)


def check_cfg_options_keys(cfg: Config, cfg_options: dict, config: str = '') -> None:
    """Fail on a ``--cfg-options`` key whose top level the config does not know (a typo used to be ignored).

    Args:
        cfg (Config): The loaded config.
        cfg_options (dict): ``--cfg-options`` as parsed by ``DictAction`` (``'a.b.c': value``).
        config (str): The config's path, for the message.

    Raises:
        KeyError: naming the unknown key(s) and the closest known top-level keys.
    """
    known = known_top_level_keys(cfg)
    problems = []
    for key in cfg_options:
        top = str(key).split('.')[0]
        if top not in known:
            close = difflib.get_close_matches(top, known, n=5, cutoff=0.5)
            problems.append(f'{key!r} (unknown top-level key {top!r}; closest known keys: {close})')
    if problems:
        raise KeyError(
            f'--cfg-options: {"; ".join(problems)} in {config or "the config"}. Known top-level '
            "keys are the config's own keys and the arguments of mmengine Runner."
        )


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read ``config`` (its ``custom_imports`` imported, ``projects/`` importable), check and merge
    ``--cfg-options``, and set the default registry scope.

    Args:
        config (str): config file path.
        cfg_options (dict, optional): ``--cfg-options`` (``'a.b': value``); unknown top-level keys fail.

    Returns:
        Config
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    repo_root_on_path()
    cfg = Config.fromfile(config)
    if cfg_options:
        check_cfg_options_keys(cfg, cfg_options, config)
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmautomot'))
    return cfg


def build_model_on_meta(cfg: Config) -> torch.nn.Module:
    """Build ``cfg.model`` on the meta device (no memory, no weights) for counting and estimates.

    A pretrained UE folder (``model.mot.ue.pretrained``) is dropped when the UE's shape is given by ``config`` or
    ``preset``: only shapes are needed, and the folder need not exist.
    """
    model_cfg = cfg.model.copy()
    ue = model_cfg.get('mot', {}).get('ue', {})
    if isinstance(ue, dict) and ue.get('pretrained') and (ue.get('config') or ue.get('preset')) is not None:
        model_cfg.mot.ue.pretrained = None
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    return model.eval()


def count_params(model: torch.nn.Module) -> Dict[str, int]:
    """The model's own per-expert counts (``count_params()``: ``ue_params``, ``ae_params``, ...) plus
    ``total_params``; a model without ``count_params`` reports ``total_params`` only."""
    total = sum(p.numel() for p in model.parameters())
    counts = dict(model.count_params()) if hasattr(model, 'count_params') else {}
    counts.setdefault('total_params', total)
    if counts['total_params'] != total:
        raise RuntimeError(
            f'count_params() reports total_params={counts["total_params"]} but the model has {total} parameters'
        )
    return {k: int(v) for k, v in counts.items()}
