# Copyright (c) mmautomot contributors. All rights reserved.
"""Score dumped nuScenes planning predictions of any model (ST-P3 and/or UniAD protocol).

    python tools/analysis_tools/eval_planning.py --results preds.pkl \
        --ann data/nuscenes/nuscenes_infos_val.pkl [--protocol stp3|uniad|both] [--json out.json]

Results format (also in docs/planning_results_format.md). A pickle file holding either

* a list ``[dict(token=str, pred_ego_fut_trajs=np.ndarray (6, 2)), ...]``, or
* a dict ``{token: np.ndarray (6, 2)}``,

where ``token`` is the nuScenes sample token of the current keyframe and ``pred_ego_fut_trajs`` the
predicted ego positions at 0.5, 1.0, ..., 3.0 s, in metres, in the ego frame of that keyframe
(x forward, y left; the nuScenes ``ego_pose`` frame, NOT the LIDAR_TOP frame, which is x right /
y forward). By default they are positions of the ego origin (rear axle), like the GT; predictions of the
LIDAR_TOP origin (VAD / UniAD outputs) are moved into the ego frame with ``lidar2ego``
((x, y)_ego = (y, -x)_lidar + the lidar2ego translation) and scored with ``--pred-reference lidar``.
Absolute positions, not per-step offsets. ``PlanningMetric(dump_results=...)``
writes this format.

Both files are read with a restricted unpickler (builtins containers, numpy arrays; nothing else is
unpickled, see ``mmautomot.utils.safe_pickle``). The info pkl's ``metainfo.info_version`` and planning
layout (6 future steps at 0.5 s) are checked: infos of another version fail saying what was expected.
The GT comes from the info pkl written by tools/create_data.py (``token``, ``ego_fut_trajs``,
``ego_fut_masks``, ``plan_agent_boxes``, ``plan_agent_labels``, ``plan_agent_fut_trajs``,
``plan_agent_fut_yaws``, ``plan_agent_fut_masks``; for ``--ego-reference lidar``, the default and the
published protocols' reference point, also ``ego_fut_lidar_trajs`` and ``lidar_points.lidar2ego``). Every annotated
token needs a prediction (missing
ones are an error listing how many and the first few); extra predicted tokens are ignored with a
warning. The printed tables name each protocol and its settings; ``--json`` writes the metrics, the
sample counts and the settings.
"""

import argparse
import json
import os.path as osp
import sys
from dataclasses import asdict

from mmautomot.evaluation.functional import (
    EGO_REFERENCES,
    FILLPOLY_RULE,
    BEVCollisionConfig,
    evaluate_planning_files,
    format_planning_tables,
    protocol_as_dict,
)
from mmautomot.structures.info_format import InfoFormatError
from mmautomot.utils.safe_pickle import UnsafePickleError

CHOICES = {'stp3': ('stp3',), 'uniad': ('uniad',), 'both': ('stp3', 'uniad')}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Score nuScenes planning predictions (results pkl) against an info pkl.',
        epilog='See the module docstring / docs/planning_results_format.md for the results format.',
    )
    parser.add_argument('--results', required=True, help='pkl with the predictions')
    parser.add_argument('--ann', required=True, help='info pkl with the GT (tools/create_data.py)')
    parser.add_argument('--protocol', choices=sorted(CHOICES), default='both')
    parser.add_argument(
        '--ego-reference',
        choices=EGO_REFERENCES,
        default='lidar',
        help='trajectory point of the collision check: lidar (the published '
        'protocols), lidar_fixed or ego (rear axle); see docs/contracts.md',
    )
    parser.add_argument(
        '--pred-reference',
        choices=('ego', 'lidar'),
        default='ego',
        help='the point the predictions give: ego (rear axle, like our GT) or lidar '
        '(LIDAR_TOP origin in the ego frame, e.g. converted VAD/UniAD outputs; '
        'L2 then against the GT LiDAR origins, as those references score it)',
    )
    parser.add_argument('--json', default=None, help='write metrics and settings to this JSON file')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    for path in (args.results, args.ann):
        if not osp.isfile(path):
            sys.exit(f'eval_planning: no such file: {path}')
    cfg = BEVCollisionConfig(ego_reference=args.ego_reference)
    try:
        result = evaluate_planning_files(
            args.results,
            args.ann,
            protocols=CHOICES[args.protocol],
            collision_cfg=cfg,
            pred_reference=args.pred_reference,
        )
    except (UnsafePickleError, InfoFormatError) as err:  # a crafted file / infos of another version
        sys.exit(f'eval_planning: {err}')
    print(format_planning_tables(result, cfg))
    report = dict(
        metrics=result.metrics,
        num_samples=result.num_samples,
        num_total=result.num_total,
        protocols={p.name: protocol_as_dict(p) for p in result.protocols},
        collision_cfg=asdict(cfg),
        pred_reference=args.pred_reference,
        fillpoly_rule=FILLPOLY_RULE,
        results=osp.abspath(args.results),
        ann=osp.abspath(args.ann),
    )
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'wrote {args.json}')
    return report


if __name__ == '__main__':
    main()
