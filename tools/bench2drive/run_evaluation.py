# Copyright (c) mmautomot contributors. All rights reserved.
"""Evaluate an agent on Bench2Drive's routes over N CARLA instances (resume + crash retry).

Example (2 GPUs, 2 instances, ports 2000/2150, traffic-manager ports 8000/8150)::

    python tools/bench2drive/run_evaluation.py \
        --routes $B2D/leaderboard/data/bench2drive220.xml --out work_dirs/b2d_eval \
        --num-instances 2 --gpus 0 1 \
        --carla-cmd "$CARLA_ROOT/CarlaUE4.sh -RenderOffScreen -nosound -carla-rpc-port={port} -graphicsadapter={gpu}" \
        --leaderboard-cmd "python $B2D/leaderboard/leaderboard/leaderboard_evaluator.py \
            --routes={routes} --repetitions=1 --track=SENSORS --checkpoint={checkpoint} \
            --agent=mmautomot/closed_loop/leaderboard_agent.py \
            --agent-config=configs/_base_/closed_loop/automot_agent.py \
            --port={port} --traffic-manager-port={tm_port} --resume=True"

Then ``python tools/bench2drive/merge_results.py -f work_dirs/b2d_eval/results``.
"""

import argparse
import json
import logging

from mmautomot.closed_loop.eval_runner import EvaluationRunner, RunnerConfig


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--routes', required=True, help='leaderboard routes XML (e.g. bench2drive220.xml)')
    p.add_argument('--out', required=True, help='output dir (routes/, results/, logs/, save/)')
    p.add_argument('--carla-cmd', required=True, help='CARLA server command template')
    p.add_argument('--leaderboard-cmd', required=True, help='leaderboard command template')
    p.add_argument('--num-instances', type=int, default=1)
    p.add_argument('--base-port', type=int, default=2000)
    p.add_argument('--tm-base-port', type=int, default=8000)
    p.add_argument('--port-step', type=int, default=150)
    p.add_argument('--gpus', nargs='+', default=['0'])
    p.add_argument('--carla-startup', type=float, default=20.0, help='seconds to wait after start')
    p.add_argument('--max-retries', type=int, default=2)
    p.add_argument('--route-timeout', type=float, default=None, help='seconds per route (None = none)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    cfg = RunnerConfig(
        carla_cmd=args.carla_cmd,
        leaderboard_cmd=args.leaderboard_cmd,
        out_dir=args.out,
        num_instances=args.num_instances,
        base_port=args.base_port,
        tm_base_port=args.tm_base_port,
        port_step=args.port_step,
        gpus=args.gpus,
        carla_startup_s=args.carla_startup,
        max_retries=args.max_retries,
        route_timeout_s=args.route_timeout,
    )
    statuses = EvaluationRunner(cfg).run(args.routes)
    print(json.dumps(statuses, indent=1))


if __name__ == '__main__':
    main()
