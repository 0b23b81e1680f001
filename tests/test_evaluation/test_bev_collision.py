# Copyright (c) mmautomot contributors. All rights reserved.
"""The collision check equals the reference code's rasterise + check, cell for cell, per protocol.

``reference_collisions`` below is an independent minimal re-implementation of what ST-P3 / VAD
(``metric_stp3.py``) and UniAD (``GenerateOccFlowLabels`` + ``planning_metrics.py``) do, written from
their semantics: everything in their LiDAR frame (x right, y forward), one image per protocol, boxes
mapped with ``(p + 50) / 0.5`` and ``np.round``, filled one by one with ``cv2.fillPoly``, the ego
footprint from skimage's polygon of the 4.084 x 1.85 m box 0.5 m ahead, added to ``traj / 0.5``,
truncated with ``astype(int32)`` and clipped.
"""

import cv2
import numpy as np
import pytest
from skimage.draw import polygon

from mmautomot.evaluation.functional import (
    AgentTable,
    BEVCollisionConfig,
    agent_polygons,
    footprint_collisions,
    footprint_offsets,
    footprint_pixels,
    grid_collisions,
    grid_to_image,
    rasterize_occupancy,
    reference_agents,
    reference_trajectories,
    reference_transform,
)

CFG = BEVCollisionConfig()
ALL = tuple(range(10))


def reference_footprint():
    """(rr, cc) of the reference's ego footprint polygon: forward and lateral pixel indices."""
    h, w = 4.084, 1.85
    box = np.array([[-h / 2 + 0.5, w / 2], [h / 2 + 0.5, w / 2], [h / 2 + 0.5, -w / 2], [-h / 2 + 0.5, -w / 2]])
    px = (box - (-49.75)) / 0.5
    return polygon(px[:, 0], px[:, 1])


def reference_collisions(layout, traj_lidar, agents_lidar):
    """Per-step collision flags of one trajectory, computed as the reference does.

    Args:
        layout: 'vad' or 'uniad'. traj_lidar: (T, 2) LiDAR frame (x right, y forward).
        agents_lidar: per step a list of (x, y, yaw, length, width) in the LiDAR frame.
    """
    rr, cc = reference_footprint()
    flags = []
    for t, boxes in enumerate(agents_lidar):
        image = np.zeros((200, 200))
        for x, y, yaw, length, width in boxes:
            rot = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
            local = np.array(
                [[length / 2, -length / 2, -length / 2, length / 2], [width / 2, width / 2, -width / 2, -width / 2]]
            )
            corners = rot @ local + np.array([[x], [y]])
            if layout == 'vad':  # the image's y axis points backwards
                corners = np.array([[1, 0], [0, -1]]) @ corners
            pts = np.round(((corners.T - (-49.75)) + 0.25) / 0.5).astype(np.int32)
            cv2.fillPoly(image, [pts], 1.0)
        fwd = traj_lidar[t, 1] / 0.5 + rr
        lat = traj_lidar[t, 0] / 0.5 + cc
        rows = (200 - fwd).astype(np.int32) if layout == 'vad' else fwd.astype(np.int32)
        rows, cols = np.clip(rows, 0, 199), np.clip(lat.astype(np.int32), 0, 199)
        flags.append(bool(image[rows, cols].any()))
    return np.array(flags)


def ego_to_lidar(xy, yaw_l2e, t_l2e):
    """Ego-frame points -> LiDAR frame of a yaw-only lidar2ego (rotation yaw_l2e, origin t_l2e)."""
    c, s = np.cos(yaw_l2e), np.sin(yaw_l2e)
    d = np.asarray(xy) - t_l2e
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)


def lidar2ego_matrix(yaw, t):
    m = np.eye(4)
    m[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    m[:2, 3] = t
    return m


def agent_table(per_sample, T):
    """AgentTable from per-sample lists of (fut_xy (T, 2), fut_yaw (T,), length, width, label)."""
    rows = [(s, *a) for s, agents in enumerate(per_sample) for a in agents]
    return AgentTable(
        sample_idx=np.array([r[0] for r in rows], np.int64),
        fut_xy=np.array([r[1] for r in rows], np.float64).reshape(-1, T, 2),
        fut_yaw=np.array([r[2] for r in rows], np.float64).reshape(-1, T),
        fut_mask=np.ones((len(rows), T), bool),
        length=np.array([r[3] for r in rows], np.float64),
        width=np.array([r[4] for r in rows], np.float64),
        label=np.array([r[5] for r in rows], np.int64),
    )


def test_footprint_cells_match_the_reference_polygon():
    rr, cc = reference_footprint()
    f, lat = footprint_offsets(CFG)
    assert sorted(set(rr.tolist())) == f.tolist() == list(range(97, 105))
    assert sorted(set(cc.tolist())) == lat.tolist() == list(range(98, 102))
    assert len(rr) == f.size * lat.size
    # UniAD rows trunc(2 fwd + f); VAD rows trunc(200 - (2 fwd + f)); columns trunc(2 right + l)
    rows, cols = footprint_pixels(np.array([0.3, -0.3]), 'uniad', CFG)
    assert rows.tolist() == list(range(97, 105)) and cols.tolist() == list(range(98, 102))
    rows, _ = footprint_pixels(np.array([0.3, -0.3]), 'vad', CFG)
    assert rows.tolist() == list(range(102, 94, -1))  # trunc(199.4 - f), not 199 - trunc(0.6 + f)
    _, cols = footprint_pixels(np.array([0.0, -0.3]), 'vad', CFG)
    assert cols.tolist() == list(range(98, 102))  # trunc(0.6 + l)
    rows, cols = footprint_pixels(np.array([-60.0, 70.0]), 'uniad', CFG)  # clamped to the border
    assert set(rows.tolist()) == {0} and set(cols.tolist()) == {0}
    rows, _ = footprint_pixels(np.array([-48.9, 0.0]), 'uniad', CFG)  # -97.8 + f: trunc toward 0
    assert rows.tolist() == [0, 0, 1, 2, 3, 4, 5, 6]


def test_agent_polygon_pixels_per_layout():
    args = (np.array([[0.0, 0.0]]), np.array([0.0]), np.array([4.0]), np.array([2.0]))
    # x in [-2, 2], y in [-1, 1]: col (-y + 50) / 0.5 -> 98 .. 102; rows 96 .. 104
    assert agent_polygons(*args, 'vad', CFG)[0].tolist() == [[98, 96], [98, 104], [102, 104], [102, 96]]
    assert agent_polygons(*args, 'uniad', CFG)[0].tolist() == [[98, 104], [98, 96], [102, 96], [102, 104]]


def grid_case(cell, layout):
    """Pred (0.3, 0) at every step, one occupied cell of our grid (i, j), GT far away."""
    T = 6
    occ = np.zeros((1, T, 200, 200), bool)
    occ[0, :, cell[0], cell[1]] = True
    trajs = np.stack([np.tile([0.3, 0.0], (T, 1)), np.tile([0.0, -30.0], (T, 1))])[None]
    return grid_collisions(trajs, occ, layout, CFG)[0]


@pytest.mark.parametrize('layout', ['vad', 'uniad'])
def test_issue_cases_on_grids(layout):
    # the cell the old code centred at (2.75, 0.25): i = 105, j = 100 -> no collision
    assert not grid_case((105, 100), layout).any()
    # the cell at (-1.25, 0.25): i = 97 -> every step collides (the old code said the reverse)
    coll = grid_case((97, 100), layout)
    assert coll[0].all() and not coll[1].any()


def box_case(x, y, layout, pred=(0.3, 0.0)):
    T = 6
    agents = agent_table([[(np.tile([x, y], (T, 1)), np.zeros(T), 4.0, 2.0, 0)]], T)
    trajs = np.stack([np.tile(pred, (T, 1)), np.tile([0.0, -30.0], (T, 1))])[None]
    return footprint_collisions(trajs, agents, ALL, layout, CFG)[0]


@pytest.mark.parametrize('layout', ['vad', 'uniad'])
def test_issue_cases_with_cars(layout):
    left, right = box_case(0.0, 2.1, layout), box_case(0.0, -1.95, layout)
    assert left[0].all() and not left[1].any()  # the reference: 100 %
    assert not right.any()  # the reference: 0 %
    ahead = box_case(4.6, 0.0, layout)
    assert (not ahead[0].any()) if layout == 'uniad' else ahead[0].all()  # UniAD 0 %, ST-P3 100 %


def random_cases(rng, S=300, T=6):
    """Random samples around the ego in the ego frame and a nuScenes-like yaw-only lidar2ego."""
    gt = np.cumsum(rng.normal([1.5, 0.0], [1.5, 0.6], (S, T, 2)), axis=1)
    heading = np.cumsum(rng.normal(0, 0.15, (S, T)), axis=1)
    lever = rng.uniform(0.5, 1.2, S)
    gt_lidar = gt + lever[:, None, None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    pred = gt + rng.normal(0, 1.5, (S, T, 2))
    pred[rng.random(S) < 0.05] += 80.0  # some leave the grid: clamped to the border
    l2e_yaw = -np.pi / 2 + rng.normal(0, 0.01, S)
    l2e_t = np.stack([lever, rng.normal(0, 0.05, S)], -1)
    per_sample = []
    for s in range(S):
        agents = []
        for _ in range(rng.integers(0, 6)):
            base = pred[s, rng.integers(0, T)] + rng.normal(0, 3.0, 2)
            fut = base + np.cumsum(rng.normal(0, 0.5, (T, 2)), axis=0)
            yaw = rng.uniform(-np.pi, np.pi) + np.cumsum(rng.normal(0, 0.1, T))
            agents.append((fut, yaw, rng.uniform(0.5, 6.0), rng.uniform(0.5, 2.5), int(rng.integers(0, 10))))
        per_sample.append(agents)
    return pred, gt, gt_lidar, l2e_yaw, l2e_t, per_sample


@pytest.mark.parametrize('mode', ['lidar', 'ego'])
def test_equals_reference_on_random_cases(mode):
    """'lidar': a nuScenes-like mount; 'ego': trajectories on multiples of 0.25 m (boundary cells)."""
    rng = np.random.default_rng(0 if mode == 'lidar' else 1)
    pred, gt, gt_lidar, l2e_yaw, l2e_t, per_sample = random_cases(rng)
    S, T, _ = gt.shape
    l2e = np.stack([lidar2ego_matrix(y, t) for y, t in zip(l2e_yaw, l2e_t)])
    to_lidar = ego_to_lidar
    if mode == 'ego':  # the LiDAR frame is the ego frame turned by -90 deg, exactly
        pred, gt = np.round(pred * 4) / 4, np.round(gt * 4) / 4
        gt_lidar = gt
        l2e_yaw[:] = -np.pi / 2

        def to_lidar(xy, yaw_l2e, t_l2e):
            return np.stack([-xy[..., 1], xy[..., 0]], -1)

    yaw, origin = reference_transform(l2e, mode, S)
    trajs = reference_trajectories(np.stack([pred, gt], 1), gt, gt_lidar, yaw, origin, mode)
    agents = reference_agents(agent_table(per_sample, T), yaw, origin)
    labels = (0, 1, 2, 3, 4, 6, 7, 8)
    total = 0
    for layout in ('vad', 'uniad'):
        ours = footprint_collisions(trajs, agents, labels, layout, CFG)
        expected = np.zeros_like(ours)
        for s in range(S):
            boxes = [[] for _ in range(T)]
            for fut, fyaw, length, width, label in per_sample[s]:
                if label not in labels:
                    continue
                xy_l = to_lidar(fut, l2e_yaw[s], l2e_t[s])
                for t in range(T):
                    boxes[t].append((*xy_l[t], fyaw[t] - l2e_yaw[s], length, width))
            for m, traj in enumerate((pred[s] + gt_lidar[s] - gt[s], gt_lidar[s])):
                traj_lidar = to_lidar(traj, l2e_yaw[s], l2e_t[s])
                expected[s, m] = reference_collisions(layout, traj_lidar, boxes)
        np.testing.assert_array_equal(ours, expected, err_msg=layout)
        total += expected.sum()
        # the given-grid path reads the rasterised grid the same way
        occ = np.stack(
            [np.stack([rasterize_occupancy(agents, s, t, labels, layout, CFG) for t in range(T)]) for s in range(40)]
        )
        np.testing.assert_array_equal(grid_collisions(trajs[:40], occ, layout, CFG), ours[:40])
    assert 0.1 < total / (2 * 2 * S * T) < 0.9  # the cases do exercise both outcomes


def test_layouts_are_rotated_and_mirrored_views():
    grid = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(grid_to_image(grid, 'vad'), np.rot90(grid, 2))
    np.testing.assert_array_equal(grid_to_image(grid, 'uniad'), np.fliplr(grid))
