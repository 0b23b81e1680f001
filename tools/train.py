# Copyright (c) mmautomot contributors. All rights reserved.
"""Train a model from a config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

Distributed: ``tools/dist_train.sh CONFIG GPUS`` (torchrun; also runs on CPU with gloo).
A config with ``runner_type='FlexibleRunner'`` (and a ``strategy``, e.g. FSDP/DeepSpeed) is built
through the RUNNERS registry instead of ``Runner.from_cfg``.
"""

import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmautomot.engine import (
    apply_bad_sample_policy,
    ensure_checkpoint_check,
    finalize_dist_env,
    load_tool_config,
    prepare_dist_env,
)
from mmautomot.utils import enable_safe_mmengine_checkpoints, register_all_modules

# `projects.<name>` packages (custom_imports) live at the repository root, as in mmdet3d.
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args():
    parser = argparse.ArgumentParser(description='Train an mmautomot model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', default=False, help='enable automatic-mixed-precision training (AmpOptimWrapper)'
    )
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='scale the lr by the total batch size (needs cfg.auto_scale_lr)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir when no path is given',
    )
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config settings, e.g. train_cfg.max_iters=10'
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    enable_safe_mmengine_checkpoints()

    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)

    if args.amp:
        wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.', logger='current')
        else:
            assert wrapper_type == 'OptimWrapper', f'--amp only supports OptimWrapper, but got {wrapper_type}.'
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise RuntimeError(
                f'--auto-scale-lr needs `auto_scale_lr = dict(enable=False, base_batch_size=N)` in {args.config}.'
            )
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    ensure_checkpoint_check(cfg, force_strict=False)  # strict checkpoint loads
    apply_bad_sample_policy(cfg)  # on_bad_sample='skip': collate + loops + count hook
    prepare_dist_env(cfg, args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    finalize_dist_env(exit_process=True)  # the last statement: see its docstring


if __name__ == '__main__':
    main()
