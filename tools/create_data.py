# Copyright (c) mmautomot contributors. All rights reserved.
"""Create info pkls for a dataset: one sub-command per dataset.

Examples:
    python tools/create_data.py nuscenes --root-path data/nuscenes --out-dir data/nuscenes \
        --version v1.0-trainval --max-sweeps 10
    python tools/create_data.py bench2drive --root-path data/bench2drive --out-dir data/bench2drive \
        [--layout auto|bench2drive|pdm_lite] [--val-ratio 0.1 | --val-routes NAME ...]
"""

import argparse
import sys


def nuscenes_main(args) -> None:
    from mmautomot.datasets.converters import create_nuscenes_infos

    create_nuscenes_infos(
        args.root_path,
        args.out_dir or args.root_path,
        version=args.version,
        max_sweeps=args.max_sweeps,
        info_prefix=args.extra_tag,
        skip_missing=args.skip_missing,
    )


def bench2drive_main(args) -> None:
    from mmautomot.datasets.bench2drive import create_bench2drive_infos
    from mmautomot.utils.safe_pickle import load_pickle_safe as load

    out_dir = args.out_dir or args.root_path
    paths = create_bench2drive_infos(
        args.root_path,
        out_dir,
        info_prefix=args.extra_tag,
        layout=args.layout,
        val_routes=args.val_routes,
        val_ratio=args.val_ratio,
        fps=args.fps,
        target=args.target,
        max_agent_distance=args.max_agent_distance,
    )
    for split, path in paths.items():
        data = load(path)
        scenes = {info['scene_token'] for info in data['data_list']}
        print(
            f'{split}: {len(data["data_list"])} samples from {len(scenes)} routes '
            f'({data["metainfo"]["version"]}) -> {path}'
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Create mmautomot info pkls')
    sub = parser.add_subparsers(dest='dataset', required=True)
    nus = sub.add_parser('nuscenes', help='nuScenes v1.0 (real or synthetic) via nuscenes-devkit')
    nus.add_argument('--root-path', required=True, help='nuScenes root (holds v1.0-*/ samples/ ...)')
    nus.add_argument('--out-dir', default=None, help='where to write the pkls (default: root path)')
    nus.add_argument('--version', default='v1.0-trainval', choices=['v1.0-trainval', 'v1.0-mini', 'v1.0-test'])
    nus.add_argument('--max-sweeps', type=int, default=10, help='LiDAR sweeps per keyframe')
    nus.add_argument('--extra-tag', default='nuscenes', help='pkl file name prefix')
    nus.add_argument(
        '--skip-missing', action='store_true', help='skip samples with missing LiDAR/camera files instead of failing'
    )
    nus.set_defaults(func=nuscenes_main)

    b2d = sub.add_parser('bench2drive', help='Bench2Drive / PDM-Lite CARLA routes (route folders at any depth)')
    b2d.add_argument('--root-path', required=True, help='dataset root holding the route folders')
    b2d.add_argument('--out-dir', default=None, help='where to write the pkls (default: root path)')
    b2d.add_argument(
        '--layout',
        default='auto',
        choices=['auto', 'bench2drive', 'pdm_lite'],
        help='route folder layout; auto detects it per route (anno/ vs measurements/)',
    )
    b2d.add_argument(
        '--val-ratio',
        type=float,
        default=0.1,
        help='every round(1/ratio)-th route (sorted) goes to val; 0 puts all in train',
    )
    b2d.add_argument('--val-routes', nargs='+', default=None, help='route folder names for val (overrides --val-ratio)')
    b2d.add_argument(
        '--fps', type=float, default=None, help='frame rate of the data (default 10 for Bench2Drive, 4 for PDM-Lite)'
    )
    b2d.add_argument(
        '--target', default='near', choices=['near', 'far'], help='Bench2Drive target point / command pair'
    )
    b2d.add_argument('--max-agent-distance', type=float, default=50.0, help='agents farther than this (m) are dropped')
    b2d.add_argument('--extra-tag', default='bench2drive', help='pkl file name prefix')
    b2d.set_defaults(func=bench2drive_main)
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
