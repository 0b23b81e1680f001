# Copyright (c) mmautomot contributors. All rights reserved.
"""Every config under ``configs/`` and ``projects/*/configs/`` loads and its model builds.

The list is globbed at collection time (``_base_`` excluded), so new configs are covered without
editing this file.

Convention: a config whose model is paper scale (billions of parameters) sets the top-level
variable ``build_on_meta = True``. Its model is then built under ``torch.device('meta')`` (no
memory, no weights) and the parameter count is reported; every other config's model is built on CPU.
"""

import glob
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from mmautomot.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:  # projects/*/ use custom_imports=dict(imports=['projects.X...'])
    sys.path.insert(0, REPO)


def _config_paths():
    paths = glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    paths += glob.glob(osp.join(REPO, 'projects', '*', 'configs', '**', '*.py'), recursive=True)
    rel = sorted(osp.relpath(p, REPO) for p in paths)
    return [p for p in rel if '_base_' not in p.split(osp.sep)]


CONFIGS = _config_paths()


def test_config_glob_is_not_empty_once_configs_exist():
    """Guard against a broken glob: the base files are always there."""
    assert glob.glob(osp.join(REPO, 'configs', '_base_', 'default_runtime.py'))


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config, record_property):
    path = osp.join(REPO, config)
    try:
        cfg = Config.fromfile(path)
        assert 'model' in cfg, 'no `model` in the config'
        assert cfg.pretty_text  # the Runner stores it in every checkpoint
        on_meta = bool(cfg.get('build_on_meta', False))
        if on_meta:
            with torch.device('meta'):
                model = MODELS.build(cfg.model)
        else:
            model = MODELS.build(cfg.model)
    except Exception as err:  # re-raised with the config path in front
        pytest.fail(f'{config}: {type(err).__name__}: {err}', pytrace=True)
    n_params = sum(p.numel() for p in model.parameters())
    device = 'meta' if on_meta else 'cpu'
    record_property('num_params', n_params)
    print(f'{config}: {type(model).__name__} built on {device}, {n_params:,} parameters')
    assert isinstance(model, torch.nn.Module)
    if on_meta:
        assert all(p.device.type == 'meta' for p in model.parameters()), (
            f'{config}: build_on_meta=True but some parameters are materialised'
        )
