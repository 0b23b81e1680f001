# Copyright (c) mmautomot contributors. All rights reserved.
"""Create info pkls for a dataset: one sub-command per dataset.

Example:
    python tools/create_data.py nuscenes --root-path data/nuscenes --out-dir data/nuscenes \
        --version v1.0-trainval --max-sweeps 10
"""
import argparse
import sys


def nuscenes_main(args) -> None:
    from mmautomot.datasets.converters import create_nuscenes_infos
    create_nuscenes_infos(args.root_path, args.out_dir or args.root_path, version=args.version,
                          max_sweeps=args.max_sweeps, info_prefix=args.extra_tag,
                          skip_missing=args.skip_missing)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Create mmautomot info pkls')
    sub = parser.add_subparsers(dest='dataset', required=True)
    nus = sub.add_parser('nuscenes', help='nuScenes v1.0 (real or synthetic) via nuscenes-devkit')
    nus.add_argument('--root-path', required=True, help='nuScenes root (holds v1.0-*/ samples/ ...)')
    nus.add_argument('--out-dir', default=None, help='where to write the pkls (default: root path)')
    nus.add_argument('--version', default='v1.0-trainval',
                     choices=['v1.0-trainval', 'v1.0-mini', 'v1.0-test'])
    nus.add_argument('--max-sweeps', type=int, default=10, help='LiDAR sweeps per keyframe')
    nus.add_argument('--extra-tag', default='nuscenes', help='pkl file name prefix')
    nus.add_argument('--skip-missing', action='store_true',
                     help='skip samples with missing LiDAR/camera files instead of failing')
    nus.set_defaults(func=nuscenes_main)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        args.func(args)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
