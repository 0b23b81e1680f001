# Copyright (c) mmautomot contributors. All rights reserved.
"""The pre-filtered collision check equals a brute-force full-grid rasterisation."""
import importlib.util
import os.path as osp

import numpy as np

from mmautomot.evaluation.functional import (BEVCollisionConfig, agent_polygons,
                                             ego_footprint_cells, footprint_collisions,
                                             rasterize_occupancy, stack_planning_samples)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _synthetic(n):
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'bench_planning_metric.py')
    spec = importlib.util.spec_from_file_location('_bench', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.synthetic_samples(n, 30, seed=3)


def test_prefiltered_equals_brute_force():
    cfg = BEVCollisionConfig()
    pred, gt, mask, agents = stack_planning_samples(_synthetic(60))
    trajs = np.stack([pred, gt], axis=1)
    labels = (0, 1, 2, 3, 4, 6, 7, 8)
    fast = footprint_collisions(trajs, agents, labels, cfg)
    rows, cols = ego_footprint_cells(trajs, cfg)
    slow = np.zeros_like(fast)
    for s in range(trajs.shape[0]):
        for t in range(trajs.shape[2]):
            occ = rasterize_occupancy(agents, s, t, labels, cfg)
            for m in range(2):
                slow[s, m, t] = occ[rows[s, m, t][:, None], cols[s, m, t][None, :]].any()
    np.testing.assert_array_equal(fast, slow)
    assert 0 < fast.sum() < fast.size  # the synthetic scenes do produce collisions


def test_agent_polygon_pixels():
    cfg = BEVCollisionConfig()
    poly = agent_polygons(np.array([[0.0, 0.0]]), np.array([0.0]), np.array([4.0]), np.array([2.0]),
                          cfg)[0]
    # x in [-2, 2] -> rows 95.5 .. 103.5 -> round-half-even 96 .. 104; y in [-1, 1] -> cols 97.5 .. 101.5
    assert poly.tolist() == [[102, 104], [102, 96], [98, 96], [98, 104]]
