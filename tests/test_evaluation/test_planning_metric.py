# Copyright (c) mmautomot contributors. All rights reserved.
"""Hand-computed planning metric values under the ST-P3 and UniAD protocols."""

import numpy as np
import pytest
import torch

from mmautomot.evaluation import PlanningMetric
from mmautomot.evaluation.functional import BEVCollisionConfig, evaluate_planning
from mmautomot.registry import METRICS

T = 6
GT = np.stack([np.arange(1, T + 1) * 2.0, np.zeros(T)], axis=1)  # 2 m per step along +x
CAR, PED = 0, 8
#: these hand-made cases are written in the reference frame itself (trajectory point = origin)
EGO = BEVCollisionConfig(ego_reference='ego')


def agent(x, y, length=4.0, width=2.0, yaw=0.0, label=CAR, steps=None):
    """A static agent (centre x, y) present at ``steps`` (default: all)."""
    mask = np.zeros(T, bool)
    mask[list(range(T)) if steps is None else steps] = True
    return dict(
        box=[x, y, 0.8, length, width, 1.6, yaw],
        label=label,
        traj=np.tile([x, y], (T, 1)),
        yaw=np.full(T, yaw),
        mask=mask,
    )


def sample(pred, gt=GT, mask=None, agents=(), token='s'):
    agents = list(agents)
    n = len(agents)
    return dict(
        token=token,
        pred_ego_fut_trajs=np.asarray(pred, np.float32),
        gt_ego_fut_trajs=np.asarray(gt, np.float32),
        gt_ego_fut_masks=np.ones(T, np.float32) if mask is None else np.asarray(mask, np.float32),
        gt_agent_boxes=np.array([a['box'] for a in agents], np.float32).reshape(n, 7),
        gt_agent_labels=np.array([a['label'] for a in agents], np.int64),
        gt_agent_fut_trajs=np.array([a['traj'] for a in agents], np.float32).reshape(n, T, 2),
        gt_agent_fut_yaws=np.array([a['yaw'] for a in agents], np.float32).reshape(n, T),
        gt_agent_fut_masks=np.array([a['mask'] for a in agents], np.float32).reshape(n, T),
    )


def metrics_of(samples, **kwargs):
    kwargs.setdefault('collision_cfg', EGO)
    return evaluate_planning(samples, **kwargs).metrics


def assert_row(m, proto, kind, values):
    keys = [f'{proto}/{kind}_{h}' for h in ('1s', '2s', '3s', 'avg')]
    np.testing.assert_allclose([m[k] for k in keys], values, atol=1e-5, err_msg=f'{proto} {kind}')


def deviate(step_idx, dy):
    pred = GT.copy()
    pred[step_idx, 1] = dy
    return pred


def test_perfect_prediction_is_zero():
    m = metrics_of([sample(GT, agents=[agent(30.0, 10.0)])])
    for proto in ('stp3', 'uniad'):
        assert_row(m, proto, 'L2', [0, 0, 0, 0])
        assert_row(m, proto, 'CR', [0, 0, 0, 0])
    assert len(m) == 16


def test_constant_offset_one_metre():
    m = metrics_of([sample(GT + [0.6, 0.8])])
    for proto in ('stp3', 'uniad'):
        assert_row(m, proto, 'L2', [1, 1, 1, 1])


def test_parked_car_hit_at_step_3_only():
    # step 3 (index 2) swerves 5 m left into a car parked at (6, 5): L2 [0, 0, 5, 0, 0, 0]
    m = metrics_of([sample(deviate(2, 5.0), agents=[agent(6.0, 5.0)])])
    # ST-P3: mean over steps up to 2T
    assert_row(m, 'stp3', 'L2', [0, 5 / 4, 5 / 6, (5 / 4 + 5 / 6) / 3])
    assert_row(m, 'stp3', 'CR', [0, 25, 100 / 6, (25 + 100 / 6) / 3])
    # UniAD: only steps 2, 4, 6 are read
    assert_row(m, 'uniad', 'L2', [0, 0, 0, 0])
    assert_row(m, 'uniad', 'CR', [0, 0, 0, 0])


def test_parked_car_hit_at_step_4_counts_for_uniad():
    m = metrics_of([sample(deviate(3, 5.0), agents=[agent(8.0, 5.0)])])
    assert_row(m, 'stp3', 'CR', [0, 25, 100 / 6, (25 + 100 / 6) / 3])
    assert_row(m, 'uniad', 'CR', [0, 100, 0, 100 / 3])
    assert_row(m, 'uniad', 'L2', [0, 5, 0, 5 / 3])


def test_gt_collision_excluded_but_kept_in_denominator():
    # sample a: an agent sits on the GT (and predicted) position of step 3 only -> GT collides there
    a = sample(GT, agents=[agent(6.0, 0.0, steps=[2])], token='a')
    # sample b: the prediction hits a car at step 3 where the GT is free
    b = sample(deviate(2, 5.0), agents=[agent(6.0, 5.0)], token='b')
    m = metrics_of([a, b])
    # per sample at 2 s: a -> 0 of 4 steps, b -> 1 of 4 steps; mean = 12.5 % (not 1/7 = 14.3 %)
    assert_row(m, 'stp3', 'CR', [0, 12.5, 100 / 12, (12.5 + 100 / 12) / 3])
    no_excl = metrics_of([a, b], collision_cfg=BEVCollisionConfig(exclude_gt_collisions=False, ego_reference='ego'))
    assert_row(no_excl, 'stp3', 'CR', [0, 25, 100 / 6, (25 + 100 / 6) / 3])


def test_four_valid_steps_drop_vs_mask():
    full = sample(GT + [0, 1.0], token='full')
    gt4 = GT.copy()
    gt4[4:] = 0.0  # past the scene end
    short = sample(gt4 + [0, 2.0], gt=gt4, mask=[1, 1, 1, 1, 0, 0], token='short')
    res = evaluate_planning([full, short], collision_cfg=EGO)
    m = res.metrics
    assert res.num_samples == {'stp3': 1, 'uniad': 2} and res.num_total == 2
    assert_row(m, 'stp3', 'L2', [1, 1, 1, 1])  # the short sample is dropped
    # UniAD: short sample masked to [2, 2, 2, 2, 0, 0] but still counted
    assert_row(m, 'uniad', 'L2', [1.5, 1.5, 0.5, 3.5 / 3])


def test_past_scene_end_is_occupied_for_uniad():
    gt4 = GT.copy()
    gt4[4:] = 0.0
    pred = gt4.copy()
    pred[5] = [20.0, 10.0]  # invalid step 6 drives into a car
    short = sample(pred, gt=gt4, mask=[1, 1, 1, 1, 0, 0], agents=[agent(20.0, 10.0)])
    m = metrics_of([short])
    assert_row(m, 'uniad', 'CR', [0, 0, 0, 0])
    off = metrics_of([short], protocols=[dict(base='uniad', past_scene_end_occupied=False)])
    assert_row(off, 'uniad', 'CR', [0, 0, 100, 100 / 3])


def test_pedestrian_counts_for_stp3_only():
    m = metrics_of([sample(deviate(3, 5.0), agents=[agent(8.0, 5.0, 0.8, 0.8, label=PED)])])
    assert_row(m, 'stp3', 'CR', [0, 25, 100 / 6, (25 + 100 / 6) / 3])
    assert_row(m, 'uniad', 'CR', [0, 0, 0, 0])
    # barrier (5) and traffic cone (9) are never occupancy
    m = metrics_of([sample(deviate(3, 5.0), agents=[agent(8.0, 5.0, label=5), agent(8.0, 5.0, label=9)])])
    assert_row(m, 'stp3', 'CR', [0, 0, 0, 0])


def test_footprint_forward_offset_matters():
    # pred step 1 at (10, 0): footprint x in [8.458, 12.542] (0.5 m ahead); car rear at 12.2 m
    pred = GT.copy()
    pred[0] = [10.0, 0.0]
    gt = GT.copy()
    gt[:, 1] = -20.0
    s = sample(pred, gt=gt, agents=[agent(13.0, 0.0, length=1.6, width=1.0, steps=[0])])
    assert_row(metrics_of([s]), 'stp3', 'CR', [50, 25, 100 / 6, (50 + 25 + 100 / 6) / 3])
    centred = BEVCollisionConfig(ego_forward_offset=0.0, ego_reference='ego')
    assert_row(metrics_of([s], collision_cfg=centred), 'stp3', 'CR', [0, 0, 0, 0])


def test_agent_box_is_rotated_by_yaw():
    pred = GT.copy()
    pred[0] = [18.5, 0.0]
    gt = GT.copy()
    gt[:, 1] = -20.0
    lying = agent(20.0, 3.6, length=6.0, width=1.0, yaw=np.pi / 2, steps=[0])  # y in [0.6, 6.6]
    along = agent(20.0, 3.6, length=6.0, width=1.0, yaw=0.0, steps=[0])  # y in [3.1, 4.1]
    assert metrics_of([sample(pred, gt=gt, agents=[lying])])['stp3/CR_1s'] == 50
    assert metrics_of([sample(pred, gt=gt, agents=[along])])['stp3/CR_1s'] == 0


def test_border_clamping_tests_border_cells():
    pred = GT.copy()
    pred[0] = [80.0, 0.0]  # far outside the +-50 m grid
    gt = GT.copy()
    gt[:, 1] = -20.0
    at_border = agent(49.5, 0.0, length=2.0, steps=[0])  # reaches the last row (199)
    inside = agent(45.0, 0.0, length=2.0, steps=[0])
    assert metrics_of([sample(pred, gt=gt, agents=[at_border])])['stp3/CR_1s'] == 50
    assert metrics_of([sample(pred, gt=gt, agents=[inside])])['stp3/CR_1s'] == 0


def test_errors_name_the_sample():
    bad = sample(GT)
    bad['pred_ego_fut_trajs'] = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"sample tok: 'pred_ego_fut_trajs' must have shape"):
        evaluate_planning([bad], names=['tok'])
    nan = sample(GT)
    nan['pred_ego_fut_trajs'][2] = np.nan
    with pytest.raises(ValueError, match='non-finite'):
        evaluate_planning([nan])
    with pytest.raises(KeyError, match='unknown planning protocol'):
        evaluate_planning([sample(GT)], protocols=['vad'])
    with pytest.raises(ValueError, match='need steps'):
        evaluate_planning([sample(GT)], horizons=(1.0, 4.0), collision_cfg=EGO)


def test_metric_with_data_samples_and_dump(tmp_path):
    from mmautomot.structures import DrivingDataSample

    metric = METRICS.build(dict(type='PlanningMetric', dump_results=str(tmp_path / 'preds.pkl')))
    assert isinstance(metric, PlanningMetric)
    samples = []
    lidar2ego = np.array([[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 1, 1.8], [0, 0, 0, 1]], np.float32)
    for i, s in enumerate([sample(deviate(3, 5.0), agents=[agent(8.0, 5.0)]), sample(GT)]):
        s['gt_ego_fut_lidar_trajs'] = s['gt_ego_fut_trajs'].copy()  # LiDAR above the rear axle
        ds = DrivingDataSample(metainfo=dict(token=f'tok{i}', lidar2ego=lidar2ego))
        for k, v in s.items():
            if k != 'token':
                ds.set_field(torch.from_numpy(v), k)
        samples.append(ds)
    metric.process({}, [samples[0].to_dict()])  # mmengine's Evaluator passes dicts
    metric.process({}, [samples[1]])
    m = metric.evaluate(2)
    assert m['uniad/CR_2s'] == pytest.approx(50.0) and m['stp3/L2_2s'] == pytest.approx(5 / 8)
    assert sorted(m) == sorted(
        f'{p}/{k}_{h}' for p in ('stp3', 'uniad') for k in ('L2', 'CR') for h in ('1s', '2s', '3s', 'avg')
    )
    import mmengine

    dumped = mmengine.load(tmp_path / 'preds.pkl')
    assert [d['token'] for d in dumped] == ['tok0', 'tok1']
    np.testing.assert_allclose(dumped[0]['pred_ego_fut_trajs'], deviate(3, 5.0))


def test_table_names_protocol_settings():
    from mmautomot.evaluation import format_planning_tables

    text = format_planning_tables(evaluate_planning([sample(GT)], collision_cfg=EGO), EGO)
    assert 'stp3: occupancy=vehicles+pedestrians; mean over steps <= T' in text
    assert 'uniad: occupancy=vehicles; value at step 2T' in text
    assert 'fillPoly rule' in text


def test_reference_point_moves_the_footprint_not_l2():
    """The published protocols check collisions at the LiDAR origin (0.94 m ahead of the axle)."""
    pred = GT.copy()
    pred[0] = [10.0, 0.0]
    gt = GT.copy()
    gt[:, 1] = -20.0
    s = sample(pred, gt=gt, agents=[agent(13.9, 0.0, length=1.6, width=1.0, steps=[0])])
    s['lidar2ego'] = np.array([[0, 1, 0, 0.94], [-1, 0, 0, 0], [0, 0, 1, 1.84], [0, 0, 0, 1]])
    s['gt_ego_fut_lidar_trajs'] = gt + [0.94, 0.0]  # driving straight: the lever arm stays along x
    lidar = evaluate_planning([s]).metrics  # the default: ego_reference='lidar'
    fixed = metrics_of([s], collision_cfg=BEVCollisionConfig(ego_reference='lidar_fixed'))
    ego = metrics_of([s])
    # car rear at 13.1 m: the footprint ahead of the axle ends in the cell of 12.0 m; ahead of the
    # LiDAR the car sits at 12.16 m, inside it
    for proto, hit in (('stp3', [50, 25, 100 / 6, (50 + 25 + 100 / 6) / 3]), ('uniad', [0] * 4)):
        assert_row(lidar, proto, 'CR', hit)
        assert_row(fixed, proto, 'CR', hit)
        assert_row(ego, proto, 'CR', [0, 0, 0, 0])
        for key in ('L2_1s', 'L2_2s', 'L2_3s', 'L2_avg'):
            assert lidar[f'{proto}/{key}'] == ego[f'{proto}/{key}'] == fixed[f'{proto}/{key}']
    # UniAD reads step 2 at 1 s: put the car there too
    s2 = dict(s, gt_agent_fut_masks=np.ones((1, T), np.float32))
    pred2 = s['pred_ego_fut_trajs'].copy()
    pred2[1] = [10.0, 0.0]
    s2['pred_ego_fut_trajs'] = pred2
    assert evaluate_planning([s2]).metrics['uniad/CR_1s'] == 100
    assert metrics_of([s2])['uniad/CR_1s'] == 0
    missing = sample(GT)
    with pytest.raises(
        KeyError,
        match=r"sample m: ego_reference='lidar' .* needs \['lidar2ego', "
        r"'gt_ego_fut_lidar_trajs'\]",
    ):
        evaluate_planning([missing], names=['m'])


def test_issue_9_cases_in_percent():
    """Issue 9's cases, as the reference code scores them (pred (0.3, 0), GT far away)."""
    pred = np.tile([0.3, 0.0], (T, 1))
    far = np.tile([0.0, -30.0], (T, 1))

    def cr(**kw):
        m = metrics_of([sample(pred, gt=far, **kw)])
        return {p: [m[f'{p}/CR_{h}'] for h in ('1s', '2s', '3s', 'avg')] for p in ('stp3', 'uniad')}

    def grid(*cells):
        occ = np.zeros((T, 200, 200), bool)
        for i, j in cells:
            occ[:, i, j] = True
        return occ

    def with_grid(occ):
        s = sample(pred, gt=far)
        s['gt_occupancy'] = occ
        m = metrics_of([s])
        return {p: m[f'{p}/CR_avg'] for p in ('stp3', 'uniad')}

    assert cr(agents=[agent(0.0, 2.1)]) == {'stp3': [100.0] * 4, 'uniad': [100.0] * 4}
    assert cr(agents=[agent(0.0, -1.95)]) == {'stp3': [0.0] * 4, 'uniad': [0.0] * 4}
    assert cr(agents=[agent(4.6, 0.0)]) == {'stp3': [100.0] * 4, 'uniad': [0.0] * 4}
    # occupancy grids given directly (our layout [x cell, y cell]; the agents are then ignored)
    assert with_grid(grid((105, 100))) == {'stp3': 0.0, 'uniad': 0.0}  # old centre (2.75, 0.25)
    assert with_grid(grid((97, 100))) == {'stp3': 100.0, 'uniad': 100.0}  # old centre (-1.25, 0.25)
    assert with_grid({'stp3': grid((97, 100)), 'uniad': grid()}) == {'stp3': 100.0, 'uniad': 0.0}
    with pytest.raises(KeyError, match="no grid for protocol 'uniad'"):
        with_grid({'stp3': grid()})
    with pytest.raises(ValueError, match=r"'gt_occupancy' must have shape"):
        with_grid(np.zeros((T, 100, 100), bool))


def test_lidar_origin_predictions():
    """``pred_reference='lidar'``: VAD/UniAD-style predictions of the LiDAR origin (ego frame)."""
    lever = np.array([0.94, 0.0])
    gt = GT.copy()
    gt_lidar = gt + lever
    s = sample(gt_lidar + [0.6, 0.8], gt=gt, agents=[agent(30.0, 10.0)])
    s['lidar2ego'] = np.array([[0, 1, 0, 0.94], [-1, 0, 0, 0], [0, 0, 1, 1.84], [0, 0, 0, 1]])
    s['gt_ego_fut_lidar_trajs'] = gt_lidar
    as_lidar = evaluate_planning([s], pred_reference='lidar').metrics
    as_axle = evaluate_planning([s]).metrics
    for proto in ('stp3', 'uniad'):
        assert_row(as_lidar, proto, 'L2', [1, 1, 1, 1])  # against the GT LiDAR origins
        assert as_axle[f'{proto}/L2_1s'] == pytest.approx(np.hypot(1.54, 0.8))  # lever arm as error
    with pytest.raises(ValueError, match="needs ego_reference='lidar'"):
        evaluate_planning([s], pred_reference='lidar', collision_cfg=EGO)
    with pytest.raises(ValueError, match='pred_reference must be'):
        evaluate_planning([s], pred_reference='rear')
