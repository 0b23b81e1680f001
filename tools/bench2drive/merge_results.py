# Copyright (c) mmautomot contributors. All rights reserved.
"""Bench2Drive metrics from leaderboard result JSONs: DS, SR, efficiency, comfort, abilities.

    python tools/bench2drive/merge_results.py -f RUN_DIR [RUN_DIR ...] [--json OUT]
        [--b2d-root BENCH2DRIVE_CHECKOUT | --ability-map MAP.json] [--routes ROUTES.xml]
        [--xodr-dir TOWNS_XODR_DIR] [--allow-partial] [--ability-missing official|failure]
        [--expected-routes 220]

Several ``-f`` dirs (one per seed) also print the mean and sample std over the runs; repetitions
(``_rep<k>``) inside one dir are averaged likewise. A folder that cannot give a correct number (truncated
or invalid JSON, NaN scores, records without scores, conflicting duplicates, unknown route ids, missing
routes without ``--allow-partial``, an empty or missing folder) exits with status 1 and a message naming
the file. The rules applied (merged files skipped, duplicates, retries, missing routes, lower bounds) are
printed as ``note:`` lines. Definitions: ``mmautomot/closed_loop/README.md``.
"""

import argparse
import json
import math
import os.path as osp
import sys

from mmautomot.closed_loop.abilities import ABILITIES, MISSING_RULES
from mmautomot.closed_loop.junctions import route_waypoints_from_xml
from mmautomot.closed_loop.metrics import (
    EXPECTED_ROUTES,
    ResultsError,
    aggregate_seeds,
    evaluate_run_dir,
    load_ability_mapping,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-f', '--folder', nargs='+', required=True, help='dirs with result JSONs (one per seed)')
    p.add_argument('--json', default=None, help='write the summary here')
    p.add_argument(
        '--metric-info-dir',
        nargs='+',
        default=None,
        help='dirs holding <route>/metric_info.json (default: the -f dirs)',
    )
    p.add_argument('--b2d-root', default=None, help='external Bench2Drive checkout (ability mapping, routes)')
    p.add_argument('--ability-map', default=None, help='JSON {ability: [route ids|scenario types]}')
    p.add_argument(
        '--routes',
        default=None,
        help='routes XML (route ids, scenario types, waypoints); '
        'default with --b2d-root: leaderboard/data/bench2drive220.xml',
    )
    p.add_argument(
        '--xodr-dir',
        default=None,
        help="towns' OpenDRIVE files (<Town>.xodr, from your CARLA install) for the Traffic_Signs credit",
    )
    p.add_argument(
        '--ability-missing',
        choices=MISSING_RULES,
        default='official',
        help='official: routes without a record are left out of each ability; failure: they count as failures',
    )
    p.add_argument(
        '--allow-partial',
        action='store_true',
        help='accept folders with fewer routes than expected (missing routes count 0)',
    )
    p.add_argument('--expected-routes', type=int, default=EXPECTED_ROUTES)
    return p.parse_args(argv)


def _clean(obj):
    """NaN / inf -> None so the JSON stays valid (json.dump would write bare NaN)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _fmt(v):
    if v is None:
        return 'n/a'
    if isinstance(v, dict):
        return f'{v["mean"]:.2f} ± {v["std"]:.2f}'
    return f'{v:.2f}'


def _ability_line(abil: dict) -> str:
    parts = []
    for a in list(ABILITIES) + ['mean']:
        if a not in abil:
            continue
        e = abil[a]
        v = e.get('success_rate', e.get('mean'))
        txt = 'n/a' if v is None or math.isnan(v) else f'{v:.2f}'
        if 'std' in e and not math.isnan(e['std']):
            txt += f' ± {e["std"]:.2f}'
        if e.get('lower_bound'):
            txt = '>= ' + txt
        parts.append(f'{a} {txt}')
    return 'abilities (SR %): ' + '  '.join(parts)


def _report(name: str, r: dict) -> None:
    if 'num_repetitions' in r:
        reps = f' (mean ± std over {r["num_repetitions"]} repetitions)'
        routes = (
            '+'.join(str(x['num_routes']) for x in r['repetitions'])
            + f'/{r["expected_routes"]} x {r["num_repetitions"]}'
        )
    else:
        reps, routes = '', f'{r["num_routes"]}/{r["expected_routes"]}'
    print(
        f'{name}: DS {_fmt(r["driving_score"])}  SR {_fmt(r["success_rate"])}%  routes {routes}'
        f'  efficiency {_fmt(r.get("efficiency"))}  comfort {_fmt(r.get("comfort"))} '
        f'(corrected {_fmt(r.get("comfort_corrected"))}){reps}'
    )
    if 'abilities' in r:
        print(f'{name}: {_ability_line(r["abilities"])}')
        if r['abilities'].get('mean', {}).get('lower_bound'):
            print(
                f'{name}: note: Traffic_Signs and the mean are lower bounds (failed Traffic_Signs routes '
                'past their first junction are not credited without --xodr-dir)'
            )
    for note in r.get('notes', []):
        print(f'{name}: note: {note}')


def main(argv=None):
    args = parse_args(argv)
    routes_xml = args.routes
    if routes_xml is None and args.b2d_root:
        cand = osp.join(args.b2d_root, 'leaderboard', 'data', 'bench2drive220.xml')
        routes_xml = cand if osp.isfile(cand) else None
    try:
        routes = route_waypoints_from_xml(routes_xml) if routes_xml else None
        if routes is not None and len(routes) != args.expected_routes:
            raise ValueError(
                f'{routes_xml} has {len(routes)} routes but --expected-routes is '
                f'{args.expected_routes}: DS and SR would be divided by the wrong count'
            )
        mapping = None
        if args.b2d_root or args.ability_map:
            mapping = load_ability_mapping(args.b2d_root, args.ability_map, routes_xml)
        if args.xodr_dir and not mapping:
            raise ValueError('--xodr-dir is for the Traffic_Signs credit: give --b2d-root or --ability-map')
        mi_dirs = args.metric_info_dir or args.folder
        if len(mi_dirs) != len(args.folder):
            raise ValueError('--metric-info-dir needs one dir per -f dir')
        runs = [
            evaluate_run_dir(
                d,
                args.expected_routes,
                mapping,
                m,
                args.allow_partial,
                list(routes) if routes else None,
                args.ability_missing,
                routes,
                args.xodr_dir,
            )
            for d, m in zip(args.folder, mi_dirs)
        ]
    except (ResultsError, ValueError, KeyError, FileNotFoundError, ImportError) as err:
        print(f'merge_results: error: {err}', file=sys.stderr)
        raise SystemExit(1) from err
    for d, r in zip(args.folder, runs):
        _report(d, r)
    summary = runs[0]
    if len(runs) > 1:
        agg = aggregate_seeds(runs)
        summary = dict(runs=runs, **agg)
        print(f'mean over {len(runs)} runs: DS {_fmt(agg["driving_score"])}  SR {_fmt(agg["success_rate"])}')
        if 'abilities' in agg:
            print(f'mean over {len(runs)} runs: {_ability_line(agg["abilities"])}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(_clean(summary), f, indent=1, allow_nan=False)
    return summary


if __name__ == '__main__':
    main()
