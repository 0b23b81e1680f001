# Copyright (c) mmautomot contributors. All rights reserved.
"""Training configs are named ``{algorithm}_{components}_{NxbM-schedule}_{dataset}.py`` (docs/config_names.md),
and the name states the resolved batch size, schedule and (paper scale) GPU count."""

import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_SCALE = ('qwen3vl-4b', 'paligemma-3b')
SETTING = re.compile(r'_(\d+)xb(\d+)-(\d+)([ei])_')


def _configs():
    paths = glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    paths += glob.glob(osp.join(REPO, 'projects', '*', 'configs', '*.py'))
    return sorted(p for p in paths if '/_base_/' not in p)


@pytest.mark.parametrize('path', _configs(), ids=lambda p: osp.relpath(p, REPO))
def test_config_name_states_its_training_setting(path):
    cfg = Config.fromfile(path, import_custom_modules=False)
    name = osp.basename(path)
    train_cfg, loader = cfg.get('train_cfg'), cfg.get('train_dataloader')
    match = SETTING.search(name)
    if not train_cfg or not loader:
        assert match is None, f'{name}: a config without training must not name a schedule'
        return
    if 'released-weights' in name:  # the released checkpoint's test-time config
        return
    assert match is not None, f'{name}: a training config needs _NxbM-schedule_ in its name (docs/config_names.md)'
    gpus, batch, length, unit = int(match[1]), int(match[2]), int(match[3]), match[4]
    assert batch == loader['batch_size'], f'{name}: batch {batch} in the name, {loader["batch_size"]} in the config'
    resolved = train_cfg.get('max_epochs') if unit == 'e' else train_cfg.get('max_iters')
    assert resolved == length, f'{name}: schedule {length}{unit} in the name, {train_cfg} in the config'
    if any(tag in name for tag in PAPER_SCALE):
        base = cfg.auto_scale_lr.base_batch_size
        assert gpus * batch == base, f'{name}: {gpus}x{batch} != auto_scale_lr.base_batch_size {base}'
    else:
        assert gpus == 1, f'{name}: CPU-scale configs run in one process'


def test_the_rename_table_lists_existing_configs():
    table = open(osp.join(REPO, 'docs', 'config_names.md')).read()
    new_names = re.findall(r'\| `[^`]+` \| `([^`]+)` \|', table)
    assert len(new_names) >= 30
    missing = [n for n in new_names if not osp.isfile(osp.join(REPO, n))]
    assert not missing, f'docs/config_names.md names configs that do not exist: {missing}'
