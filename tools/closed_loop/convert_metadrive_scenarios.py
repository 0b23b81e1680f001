# Copyright (c) mmautomot contributors. All rights reserved.
"""Convert the scenes of a nuScenes-format info pkl into MetaDrive ScenarioDescription pkls (ScenarioNet layout).

    python tools/closed_loop/convert_metadrive_scenarios.py data/nuscenes-synthetic/nuscenes_infos_val.pkl \
        --out data/metadrive_scenarios --map-source synthetic_grid --lights 10 2

Writes ``OUT/sd_*.pkl``, ``dataset_summary.pkl`` and ``dataset_mapping.pkl`` for ``ScenarioEnv``
(``env.kind='scenario', env.data_directory=OUT`` in a MetaDrive evaluation config); every scenario passes
``ScenarioDescription.sanity_check``. Needs ``pip install -e .[metadrive]``.
"""

import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('info_file', help='info pkl written by tools/create_data.py nuscenes')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--dt', type=float, default=0.05, help='scenario frame period = the control period (s)')
    p.add_argument('--map-source', default='synthetic_grid', choices=['synthetic_grid', 'nuscenes', 'none'])
    p.add_argument('--data-root', default=None, help="nuScenes root (tables, maps/expansion) for 'nuscenes'")
    p.add_argument(
        '--lights', type=float, nargs=2, default=None, metavar=('GREEN_S', 'YELLOW_S'), help='fixed-time lights'
    )
    p.add_argument('--max-scenes', type=int, default=None)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.info_file):
        print(f'convert_metadrive_scenarios: {args.info_file} not found', file=sys.stderr)
        return 2
    from mmautomot.closed_loop.metadrive.scenario import convert_info_scenes

    names = convert_info_scenes(
        args.info_file,
        args.out,
        dt=args.dt,
        map_source=args.map_source,
        lights=None if args.lights is None else dict(cycle=tuple(args.lights)),
        max_scenes=args.max_scenes,
        data_root=args.data_root,
    )
    print(json.dumps(dict(scenarios=len(names), out=args.out)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
