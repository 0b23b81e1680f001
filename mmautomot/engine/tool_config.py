# Copyright (c) mmautomot contributors. All rights reserved.
"""Config loading shared by ``tools/train.py`` and ``tools/test.py``."""

import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict

from mmautomot.apis.config_loading import load_config


def load_tool_config(
    config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None, launcher: str = 'none'
) -> Config:
    """Load ``config`` with :func:`mmautomot.apis.load_config` (the one config loader: custom imports, checked
    ``--cfg-options``), then set the launcher and the work dir.

    The work dir is ``work_dir`` if given, else the config's own, else ``./work_dirs/<config name>`` (as in
    mmdet3d's tools).
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def ensure_checkpoint_check(cfg: Config, force_strict: bool = False) -> None:
    """Make sure ``cfg.default_hooks`` holds a :class:`CheckpointCheckHook` (strict checkpoint loads).

    Args:
        cfg (Config): The tool's config (changed in place).
        force_strict (bool): Also forbid a partial ``load_from`` (``tools/test.py``). Defaults to False.
    """
    hooks = cfg.get('default_hooks')
    if hooks is None:
        cfg.default_hooks = hooks = ConfigDict()
    entry = hooks.get('checkpoint_check')
    if entry is None:
        hooks['checkpoint_check'] = entry = ConfigDict(type='CheckpointCheckHook', partial_load_from=False)
    if force_strict:
        entry['partial_load_from'] = False


def _dataset_policy(dataset_cfg) -> str:
    """``on_bad_sample`` of a dataset config (looking through wrappers' ``dataset`` / ``datasets``)."""
    seen = 0
    while isinstance(dataset_cfg, dict) and 'on_bad_sample' not in dataset_cfg and seen < 8:
        inner = dataset_cfg.get('dataset')
        if inner is None and dataset_cfg.get('datasets'):
            inner = dataset_cfg['datasets'][0]
        dataset_cfg, seen = inner, seen + 1
    return dataset_cfg.get('on_bad_sample', 'raise') if isinstance(dataset_cfg, dict) else 'raise'


def apply_bad_sample_policy(cfg: Config) -> None:
    """Wire ``on_bad_sample='skip'`` of the val / test datasets and the training count hook.

    For a val/test dataloader whose dataset has ``on_bad_sample='skip'`` its collate function is wrapped
    in ``skip_bad_samples_collate`` and ``ValLoop`` / ``TestLoop`` become ``SkipBadSamplesValLoop`` /
    ``SkipBadSamplesTestLoop`` (:mod:`mmautomot.engine.loops`); ``default_hooks.bad_samples``
    (:class:`BadSampleHook`) is added when missing.
    """
    for split, loop_key, loops in (
        ('val', 'val_cfg', ('ValLoop', 'SkipBadSamplesValLoop')),
        ('test', 'test_cfg', ('TestLoop', 'SkipBadSamplesTestLoop')),
    ):
        loader = cfg.get(f'{split}_dataloader')
        if not loader or _dataset_policy(loader.get('dataset')) != 'skip':
            continue
        collate = loader.get('collate_fn') or ConfigDict(type='pseudo_collate')
        if str(collate.get('type')).split('.')[-1] != 'skip_bad_samples_collate':
            # scoped name: MMEngine's Runner looks collate functions up in the root FUNCTIONS registry
            loader['collate_fn'] = ConfigDict(type='mmautomot.skip_bad_samples_collate', collate_fn=collate)
        loop = cfg.get(loop_key) or ConfigDict()
        if str(loop.get('type', loops[0])).split('.')[-1] not in loops:
            raise ValueError(
                f"{split}_dataloader.dataset.on_bad_sample='skip' needs {loops[0]} (or "
                f'{loops[1]}), but {loop_key}.type is {loop.get("type")!r}'
            )
        loop['type'] = loops[1]
        cfg[loop_key] = loop
    hooks = cfg.get('default_hooks')
    if hooks is not None and 'bad_samples' not in hooks:
        hooks['bad_samples'] = ConfigDict(type='BadSampleHook')
