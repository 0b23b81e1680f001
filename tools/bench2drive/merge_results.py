# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive metrics from leaderboard result JSONs: DS, SR, efficiency, comfort, abilities.

    python tools/bench2drive/merge_results.py -f RUN_DIR [RUN_DIR ...] [--json OUT]
        [--b2d-root BENCH2DRIVE_CHECKOUT | --ability-map MAP.json] [--expected-routes 220]

Several ``-f`` dirs (one per seed) also print the mean and sample std over the runs. Definitions:
``mmautomot/closed_loop/metrics.py`` and ``mmautomot/closed_loop/README.md``.
"""
import argparse
import json

from mmautomot.closed_loop.metrics import (EXPECTED_ROUTES, aggregate_seeds, evaluate_run_dir,
                                           load_ability_mapping)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-f', '--folder', nargs='+', required=True, help='dirs with result JSONs (one per seed)')
    p.add_argument('--json', default=None, help='write the summary here')
    p.add_argument('--metric-info-dir', nargs='+', default=None,
                   help='dirs holding <route>/metric_info.json (default: the -f dirs)')
    p.add_argument('--b2d-root', default=None, help='external Bench2Drive checkout (ability mapping)')
    p.add_argument('--ability-map', default=None, help='JSON {ability: [route ids|scenario types]}')
    p.add_argument('--expected-routes', type=int, default=EXPECTED_ROUTES)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    mapping = None
    if args.b2d_root or args.ability_map:
        mapping = load_ability_mapping(args.b2d_root, args.ability_map)
    mi_dirs = args.metric_info_dir or args.folder
    if len(mi_dirs) != len(args.folder):
        raise SystemExit('--metric-info-dir needs one dir per -f dir')
    runs = [evaluate_run_dir(d, args.expected_routes, mapping, m) for d, m in zip(args.folder, mi_dirs)]
    summary = runs[0] if len(runs) == 1 else dict(runs=runs, **aggregate_seeds(runs))
    for d, r in zip(args.folder, runs):
        print(f"{d}: DS {r['driving_score']:.2f}  SR {r['success_rate']:.2f}%  routes {r['num_routes']}"
              f"/{r['expected_routes']}  efficiency {r['efficiency']}  comfort {r['comfort']}")
    if len(runs) > 1:
        agg = aggregate_seeds(runs)
        print(f"mean over {len(runs)} runs: DS {agg['driving_score']['mean']:.2f} ± "
              f"{agg['driving_score']['std']:.2f}  SR {agg['success_rate']['mean']:.2f} ± "
              f"{agg['success_rate']['std']:.2f}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    main()
