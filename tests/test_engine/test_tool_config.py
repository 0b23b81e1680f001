# Copyright (c) mmautomot contributors. All rights reserved.
import os.path as osp

from mmautomot.engine import load_tool_config

CFG = 'configs/baselines/ego_mlp_nuscenes_tiny.py'


def test_work_dir_options_and_launcher(tmp_path):
    cfg = load_tool_config(CFG)
    assert cfg.work_dir == osp.join('./work_dirs', 'ego_mlp_nuscenes_tiny') and cfg.launcher == 'none'
    cfg = load_tool_config(CFG, {'train_cfg.max_iters': 7, 'model.hidden_dims': (8, 8)},
                           work_dir=str(tmp_path), launcher='pytorch')
    assert cfg.train_cfg.max_iters == 7 and tuple(cfg.model.hidden_dims) == (8, 8)
    assert cfg.work_dir == str(tmp_path) and cfg.launcher == 'pytorch'
