# Copyright (c) mmautomot contributors. All rights reserved.
"""Test a checkpoint: ``python tools/test.py CONFIG [CKPT] [--work-dir DIR] [--show-dir DIR]``.

``CKPT`` may be omitted (or ``none``) for models without learned weights, e.g. the constant-velocity
baseline; a warning is logged because any other model would then be tested with its initial weights.

After ``runner.test()`` the final metrics are written (rank 0) as flat JSON to
``<work-dir>/test_metrics.json``: keys exactly as the metrics return them (e.g. ``stp3/L2_1s``),
numeric values as floats (non-numeric values are left out and logged). With a test dataset's
``on_bad_sample='skip'``, ``skipped_samples`` lists every skipped sample (token, index, error).
"""

import argparse
import json
import numbers
import os
import os.path as osp
import sys

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process
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

VIS_HOOK = 'PlanningVisualizationHook'


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) an mmautomot model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='checkpoint file (.pth or .safetensors); omit or "none" for parameter-free models',
    )
    parser.add_argument('--work-dir', help='the dir for logs and test_metrics.json')
    parser.add_argument('--show-dir', help=f'save visualisations here (enables {VIS_HOOK})')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=1',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization_hook(cfg: Config, show_dir: str) -> None:
    """Set ``show_dir`` on the config's PlanningVisualizationHook, adding it if absent."""
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(cfg.get('custom_hooks') or [])
    found = [h for h in hooks if isinstance(h, dict) and str(h.get('type', '')).split('.')[-1] == VIS_HOOK]
    for hook in found:
        hook['show_dir'] = show_dir
    if not found:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [ConfigDict(type=VIS_HOOK, show_dir=show_dir)]


def dump_metrics(metrics: dict, path: str, skipped_samples=None) -> None:
    """Write numeric metrics as floats to ``path`` (flat JSON, keys unchanged).

    ``skipped_samples`` (a list of ``dict(token, index, error)``, from a test dataset with
    ``on_bad_sample='skip'``) is written under ``skipped_samples``, so a test never skips silently.
    """
    flat = {}
    for key, value in (metrics or {}).items():
        if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
            value = value.item()
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            flat[key] = float(value)
        else:
            print_log(f'test_metrics.json: skipping non-numeric metric {key}={value!r}', logger='current')
    if skipped_samples is not None:
        flat['skipped_samples'] = list(skipped_samples)
        if skipped_samples:
            print_log(
                f'test_metrics.json: {len(skipped_samples)} bad test samples were skipped and are '
                'listed under skipped_samples',
                logger='current',
                level=30,
            )
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(flat, f, indent=2)
    print_log(f'Test metrics written to {path}', logger='current')


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    enable_safe_mmengine_checkpoints()

    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.checkpoint in (None, 'none', 'None'):
        print_log(
            'tools/test.py: no checkpoint given, testing the model with its initial weights '
            '(right only for parameter-free models such as ConstantVelocityPlanner)',
            logger='current',
            level=30,
        )
        cfg.load_from = None
    else:
        cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        enable_visualization_hook(cfg, args.show_dir)

    ensure_checkpoint_check(cfg, force_strict=True)  # strict checkpoint loads
    apply_bad_sample_policy(cfg)  # on_bad_sample='skip': collate + loops + count hook
    prepare_dist_env(cfg, args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if is_main_process():
        dump_metrics(
            metrics,
            osp.join(cfg.work_dir, 'test_metrics.json'),
            skipped_samples=runner.message_hub.get_info('bad_samples/test'),
        )
    finalize_dist_env(exit_process=True)  # the last statement: see its docstring


if __name__ == '__main__':
    main()
