# Copyright (c) mmautomot contributors. All rights reserved.
"""Config loading shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict


def load_tool_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                     launcher: str = 'none') -> Config:
    """Load ``config``, merge ``--cfg-options``, set the launcher and the work dir.

    The work dir is ``work_dir`` if given, else the config's own, else ``./work_dirs/<config name>`` (as in
    mmdet3d's tools).
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
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
