# Copyright (c) mmautomot contributors. All rights reserved.
import os.path as osp

import pytest

from mmautomot.engine import load_tool_config

CFG = 'configs/baselines/ego-mlp_tiny_1xb8-200i_nuscenes.py'


def test_work_dir_options_and_launcher(tmp_path):
    cfg = load_tool_config(CFG)
    assert cfg.work_dir == osp.join('./work_dirs', 'ego-mlp_tiny_1xb8-200i_nuscenes') and cfg.launcher == 'none'
    cfg = load_tool_config(
        CFG, {'train_cfg.max_iters': 7, 'model.hidden_dims': (8, 8)}, work_dir=str(tmp_path), launcher='pytorch'
    )
    assert cfg.train_cfg.max_iters == 7 and tuple(cfg.model.hidden_dims) == (8, 8)
    assert cfg.work_dir == str(tmp_path) and cfg.launcher == 'pytorch'


def test_mistyped_top_level_cfg_option_fails_with_closest_keys(tmp_path):
    """``--cfg-options trian_cfg.max_iters=5`` used to be silently ignored."""
    from mmautomot.engine import load_tool_config

    cfg_file = tmp_path / 'c.py'
    cfg_file.write_text("train_cfg = dict(max_iters=10)\nmodel = dict(type='X')\n")
    with pytest.raises(
        KeyError,
        match=r"'trian_cfg\.max_iters' \(unknown top-level key 'trian_cfg'; "
        r"closest known keys: \['train_cfg'",
    ):
        load_tool_config(str(cfg_file), {'trian_cfg.max_iters': 5})
    with pytest.raises(KeyError, match=r"'randomnes\.seed'.*\['randomness'"):
        load_tool_config(str(cfg_file), {'randomnes.seed': 3})
    # the config's own keys and any Runner argument (even if the config lacks it) are fine
    cfg = load_tool_config(
        str(cfg_file), {'train_cfg.max_iters': 5, 'randomness.seed': 3, 'load_from': 'x.pth'}, work_dir=str(tmp_path)
    )
    assert cfg.train_cfg.max_iters == 5 and cfg.randomness.seed == 3 and cfg.load_from == 'x.pth'
