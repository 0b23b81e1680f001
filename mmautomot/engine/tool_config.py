# Copyright (c) mmautomot contributors. All rights reserved.
"""Config loading shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


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
