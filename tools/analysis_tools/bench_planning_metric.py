# Copyright (c) mmautomot contributors. All rights reserved.
"""Time the planning metric on synthetic nuScenes-val-sized data and print JSON.

    python tools/analysis_tools/bench_planning_metric.py [--num-samples 6019] [--agents 40]

Synthetic scenes: the GT ego drives forward with a random speed and curvature, the prediction is the GT
plus noise, agents (random 10-class labels, sizes, yaws, motions) are spread over +-60 m, some of them
on the ego path, and the last scene frames have fewer valid future steps. The whole
``PlanningMetric`` (``process`` with torch tensors + ``compute_metrics`` for both protocols) is timed.
Prints ``{"num_samples", "num_agents", "seconds_process", "seconds_compute", "seconds_total",
"samples_per_second", "metrics"}``. The target is < 20 s for 6,019 samples on one CPU core.
"""

import argparse
import json
import logging
import time

import numpy as np
import torch


def synthetic_samples(num_samples: int, agents_per_sample: int, seed: int = 0, steps: int = 6):
    """Random planning samples (dicts of torch tensors, as model outputs + GT) in the ego frame."""
    rng = np.random.default_rng(seed)
    out = []
    t = np.arange(1, steps + 1) * 0.5
    for i in range(num_samples):
        speed, curv = rng.uniform(0, 12), rng.normal(0, 0.02)
        heading = curv * speed * t
        gt = np.stack([speed * t * np.cos(heading / 2), speed * t * np.sin(heading / 2)], -1)
        # nuScenes-like LIDAR_TOP 0.94 m ahead of the rear axle, x right / y forward
        gt_lidar = gt + 0.94 * np.stack([np.cos(heading), np.sin(heading)], -1)
        mask = np.ones(steps, np.float32)
        if rng.random() < 0.05:
            mask[rng.integers(1, steps) :] = 0
        pred = gt + rng.normal(0, 0.3, gt.shape) * t[:, None]
        n = int(rng.integers(agents_per_sample // 2, agents_per_sample * 3 // 2 + 1))
        xy = rng.uniform(-60, 60, (n, 2))
        on_path = rng.random(n) < 0.1
        xy[on_path] = gt[rng.integers(0, steps, on_path.sum())] + rng.normal(0, 3, (on_path.sum(), 2))
        yaw = rng.uniform(-np.pi, np.pi, n)
        vel = rng.normal(0, 3, (n, 2))
        labels = rng.integers(0, 10, n)
        size = np.where(labels[:, None] == 8, [0.8, 0.7], rng.uniform([3.5, 1.6], [12, 3], (n, 2)))
        boxes = np.concatenate([xy, np.full((n, 1), 0.8), size, np.full((n, 1), 1.7), yaw[:, None]], 1)
        fut = xy[:, None] + vel[:, None] * t[None, :, None]
        fut_mask = (rng.random((n, steps)) > 0.05).astype(np.float32)
        out.append(
            dict(
                token=f'synthetic_{i:05d}',
                pred_ego_fut_trajs=torch.from_numpy(pred.astype(np.float32)),
                gt_ego_fut_trajs=torch.from_numpy(gt.astype(np.float32)),
                gt_ego_fut_masks=torch.from_numpy(mask),
                gt_ego_fut_lidar_trajs=torch.from_numpy(gt_lidar.astype(np.float32)),
                lidar2ego=torch.tensor([[0.0, 1, 0, 0.94], [-1, 0, 0, 0], [0, 0, 1, 1.84], [0, 0, 0, 1]]),
                gt_agent_boxes=torch.from_numpy(boxes.astype(np.float32)),
                gt_agent_labels=torch.from_numpy(labels.astype(np.int64)),
                gt_agent_fut_trajs=torch.from_numpy(fut.astype(np.float32)),
                gt_agent_fut_yaws=torch.from_numpy(np.tile(yaw[:, None], (1, steps)).astype(np.float32)),
                gt_agent_fut_masks=torch.from_numpy(fut_mask),
            )
        )
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-samples', type=int, default=6019)
    parser.add_argument('--agents', type=int, default=40, help='mean number of agents per sample')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    from mmengine.logging import MMLogger

    from mmautomot.evaluation import PlanningMetric

    samples = synthetic_samples(args.num_samples, args.agents, args.seed)
    metric = PlanningMetric()
    t0 = time.perf_counter()
    for i in range(0, len(samples), args.batch_size):
        metric.process({}, samples[i : i + args.batch_size])
    t1 = time.perf_counter()
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # keep stdout pure JSON (no metric table)
    try:
        metrics = metric.compute_metrics(metric.results)
    finally:
        logger.setLevel(level)
    t2 = time.perf_counter()
    report = dict(
        num_samples=len(samples),
        num_agents=int(sum(len(s['gt_agent_labels']) for s in samples)),
        seconds_process=round(t1 - t0, 3),
        seconds_compute=round(t2 - t1, 3),
        seconds_total=round(t2 - t0, 3),
        samples_per_second=round(len(samples) / max(t2 - t0, 1e-9), 1),
        metrics={k: round(v, 4) for k, v in metrics.items()},
    )
    print(json.dumps(report))
    return report


if __name__ == '__main__':
    main()
