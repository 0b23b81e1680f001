# Copyright (c) mmautomot contributors. All rights reserved.
"""Collect MetaDrive expert (IDM) episodes into the toolbox's dataset format (info pkls + sensor files).

    python tools/closed_loop/collect_metadrive.py --out data/metadrive --episodes 8 --seed 1000 \
        --camera 128x64 --max-steps 500

Writes ``OUT/seed_<s>/`` route folders (PDM-Lite layout) and ``OUT/metadrive_infos_{train,val}.pkl``
(as ``tools/create_data.py bench2drive`` would), ready for ``tools/train.py`` with
``projects/automot/configs/automot_tiny_1xb4-1600i_metadrive.py`` or
``configs/metadrive/ego-mlp_1xb32-1000i_metadrive.py``.
"""

import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True)
    p.add_argument('--episodes', type=int, default=8)
    p.add_argument('--seed', type=int, default=1000, help='first seed (keep it apart from evaluation seeds)')
    p.add_argument('--camera', default=None, help='WxH of the front camera, e.g. 128x64 (default: none)')
    p.add_argument('--every', type=int, default=2, help='write a frame every N 20 Hz ticks (2 = 10 Hz)')
    p.add_argument('--max-steps', type=int, default=600)
    p.add_argument('--traffic-density', type=float, default=0.1)
    p.add_argument('--map', default='3', help="MetaDrive map: number of blocks or a block string like 'SCS'")
    p.add_argument('--val-ratio', type=float, default=0.25)
    p.add_argument(
        '--spawn-speed',
        type=float,
        default=0.0,
        help='m/s along the spawn heading (0 = start from rest, the default); run the tool twice into the same '
        '--out with different seeds to mix standing and rolling starts (the info pkls cover every route there)',
    )
    args = p.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    camera = None
    if args.camera:
        w, h = (int(v) for v in args.camera.lower().split('x'))
        camera = dict(width=w, height=h)
    from mmautomot.closed_loop.metadrive.collect import collect

    env_cfg = dict(map=int(args.map) if args.map.isdigit() else args.map, traffic_density=args.traffic_density)
    if args.spawn_speed:
        env_cfg['vehicle_config'] = dict(spawn_velocity=[args.spawn_speed, 0.0], spawn_velocity_car_frame=True)

    res = collect(
        args.out,
        args.episodes,
        args.seed,
        camera=camera,
        every=args.every,
        max_steps=args.max_steps,
        env_cfg=env_cfg,
        val_ratio=args.val_ratio,
    )
    print(
        json.dumps(
            dict(
                infos=res['infos'],
                frames=sum(e['frames'] for e in res['episodes']),
                arrived=sum(e['arrive_dest'] for e in res['episodes']),
            )
        )
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
