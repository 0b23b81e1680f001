# Copyright (c) mmautomot contributors. All rights reserved.
"""Write the built-in synthetic nuScenes dataset (v1.0 schema, loadable by nuscenes-devkit).

Example:
    python tools/misc/make_synthetic_nuscenes.py --out data/nuscenes_synth --scenes 10 --seed 0
    python tools/create_data.py nuscenes --root-path data/nuscenes_synth --out-dir data/nuscenes_synth \
        --version v1.0-mini
"""

import argparse
import time

from mmautomot.datasets.synthetic import SyntheticNuScenesConfig, make_synthetic_nuscenes


def parse_args():
    parser = argparse.ArgumentParser(description='Generate a synthetic nuScenes-format dataset')
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--scenes', type=int, default=10, help='number of scenes')
    parser.add_argument('--keyframes', type=int, default=16, help='keyframes (2 Hz) per scene')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--version', default='v1.0-mini', choices=['v1.0-mini', 'v1.0-trainval', 'v1.0-test'])
    parser.add_argument('--image-size', type=int, nargs=2, default=(320, 180), metavar=('W', 'H'))
    parser.add_argument('--no-can-bus', action='store_true', help='do not write can_bus/ files')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = SyntheticNuScenesConfig(
        version=args.version,
        num_scenes=args.scenes,
        num_keyframes=args.keyframes,
        seed=args.seed,
        image_size=tuple(args.image_size),
        can_bus=not args.no_can_bus,
    )
    start = time.time()
    counts = make_synthetic_nuscenes(args.out, cfg)
    print(', '.join(f'{n} {k}' for k, n in counts.items()))
    print(f'Wrote {args.version} to {args.out} in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
