# Copyright (c) mmautomot contributors. All rights reserved.
"""Write a few small synthetic routes in the Bench2Drive (or PDM-Lite) layout.

python tools/bench2drive/make_synthetic_routes.py --out data/b2d_synth [--routes 2] [--seed 0]
    [--layout bench2drive|pdm_lite] [--frames N]
"""

import argparse

from mmautomot.datasets.bench2drive.synthetic import make_synthetic_routes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True)
    p.add_argument('--routes', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--layout', default='bench2drive', choices=['bench2drive', 'pdm_lite'])
    p.add_argument('--frames', type=int, default=None, help='frames per route (default 8 s)')
    args = p.parse_args(argv)
    names = make_synthetic_routes(args.out, args.routes, args.seed, args.layout, args.frames)
    for n in names:
        print(n)
    return names


if __name__ == '__main__':
    main()
