# Copyright (c) mmautomot contributors. All rights reserved.
"""Print the fully resolved config: ``python tools/misc/print_config.py CONFIG [--cfg-options]``."""

import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction

# `projects.<name>` packages (custom_imports) live at the repository root, as in mmdet3d.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args():
    parser = argparse.ArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config settings, e.g. train_cfg.max_iters=10'
    )
    parser.add_argument('--save-path', help='also dump the resolved config to this file')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')
    if args.save_path is not None:
        cfg.dump(args.save_path)


if __name__ == '__main__':
    main()
