# Copyright (c) mmautomot contributors. All rights reserved.
"""Plot curves from MMEngine json logs (as mmdet's analyze_logs.py).

    python tools/analysis_tools/analyze_logs.py plot_curve WORK_DIR/*/vis_data/scalars.json \
        --keys loss stp3/L2_avg --legend run1 --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time WORK_DIR/*/vis_data/scalars.json
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from mmautomot.visualization.log_curves import load_json_log, plot_curves  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Analyse MMEngine json logs')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot scalars against the iteration')
    plot.add_argument('json_logs', nargs='+', help='scalars.json files')
    plot.add_argument('--keys', nargs='+', default=['loss'], help='scalars to plot')
    plot.add_argument('--legend', nargs='+', help='one label per log')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', required=True, help='output image (png / pdf)')
    timing = sub.add_parser('cal_train_time', help='mean / slowest / fastest iteration time')
    timing.add_argument('json_logs', nargs='+')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for path in args.json_logs:
        if not os.path.isfile(path):
            sys.exit(f'no such log file: {path}')
    logs = [load_json_log(p) for p in args.json_logs]
    if args.task == 'plot_curve':
        fig = plot_curves(logs, args.keys, args.legend, args.title)
        fig.savefig(args.out)
        print(f'saved {args.out}')
        return
    for path, log in zip(args.json_logs, logs):
        times = np.asarray(log['train'].get('time', []), float)
        times = times[np.isfinite(times)]
        if not len(times):
            print(f'{path}: no "time" in the training records')
            continue
        print(
            f'{path}: {len(times)} logged iterations, mean {times.mean():.4f} s/iter, slowest '
            f'{times.max():.4f}, fastest {times.min():.4f}'
        )


if __name__ == '__main__':
    main()
