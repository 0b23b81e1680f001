# Copyright (c) mmautomot contributors. All rights reserved.
import numpy as np
import pytest

from mmautomot.datasets.transforms import BuildPlanningTargets, command_words


def test_gt_fields_dtypes_and_shapes(tiny_e2e_infos):
    out = BuildPlanningTargets()(tiny_e2e_infos[0])
    assert out['gt_ego_fut_trajs'].shape == (6, 2) and out['gt_ego_fut_trajs'].dtype == np.float32
    np.testing.assert_allclose(out['gt_ego_fut_trajs'][:, 0], [5, 10, 15, 20, 25, 30])
    assert out['gt_ego_fut_masks'].tolist() == [1] * 6
    assert out['gt_ego_path'].shape == (20, 2) and out['gt_ego_path_masks'].shape == (20,)
    assert out['gt_meta_actions'].dtype == np.int64 and out['gt_meta_actions'].shape == (3, 2)
    assert out['gt_agent_boxes'].shape == (2, 7)
    assert out['gt_agent_labels'].dtype == np.int64
    assert out['gt_agent_fut_trajs'].shape == (2, 6, 2)
    assert out['gt_agent_fut_yaws'].shape == (2, 6) and out['gt_agent_fut_masks'].shape == (2, 6)
    assert out['command'] == 2 and isinstance(out['command'], int)
    assert out['ego_status'].dtype == np.float32 and out['ego_hist_trajs'].shape == (4, 2)
    # no agents: empty arrays keep their trailing shapes
    empty = BuildPlanningTargets()(tiny_e2e_infos[1])
    assert empty['gt_agent_boxes'].shape == (0, 7)
    assert empty['gt_agent_fut_trajs'].shape == (0, 6, 2)
    assert empty['gt_agent_fut_masks'].shape == (0, 6)


def test_prompt_template(tiny_e2e_infos):
    info = dict(tiny_e2e_infos[0], command=0)
    out = BuildPlanningTargets(system_prompt='SYS')(info)
    assert out['prompt'] == 'SYS\nNavigation command: turn left.\nCurrent speed: 10.0 m/s.'
    custom = BuildPlanningTargets(prompt_template='{command}|{speed:.2f}|{target_x:.0f},{target_y:.0f}|{num_frames}')(
        dict(tiny_e2e_infos[2], command=1)
    )
    assert custom['prompt'] == 'turn right|10.00|30,0|3'
    assert 'prompt' not in BuildPlanningTargets(with_prompt=False)(dict(tiny_e2e_infos[0]))
    assert command_words(5) == 'change lane right'
    with pytest.raises(ValueError, match='command'):
        command_words(7)


def test_missing_or_misshaped_fields_are_named(tiny_e2e_infos):
    info = dict(tiny_e2e_infos[0])
    del info['plan_agent_boxes']
    with pytest.raises(KeyError, match=r"'tok0'.*'plan_agent_boxes'"):
        BuildPlanningTargets()(info)
    # a subset of GT keys works without the others
    out = BuildPlanningTargets(gt_keys=('ego_fut_trajs', 'ego_fut_masks'))(info)
    assert 'gt_agent_boxes' not in out and 'gt_ego_fut_trajs' in out
    bad = dict(tiny_e2e_infos[0], ego_status=np.zeros(3))
    with pytest.raises(ValueError, match=r"'tok0'.*'ego_status'"):
        BuildPlanningTargets()(bad)
    with pytest.raises(KeyError, match='unknown gt_keys'):
        BuildPlanningTargets(gt_keys=('ego_future',))


def test_target_point_can_be_withheld(tiny_e2e_infos):
    """nuScenes target points are GT-derived: ``use_target_point=False`` feeds (0, 0) instead."""
    kept = BuildPlanningTargets()(dict(tiny_e2e_infos[2]))
    assert kept['target_point'].tolist() == [30.0, 0.0]
    withheld = BuildPlanningTargets(use_target_point=False, prompt_template='{target_x:.0f},{target_y:.0f}')(
        dict(tiny_e2e_infos[2])
    )
    assert withheld['target_point'].tolist() == [0.0, 0.0]
    assert withheld['target_point'].dtype == np.float32
    assert withheld['prompt'] == '0,0'
    # the GT future itself is untouched
    np.testing.assert_allclose(withheld['gt_ego_fut_trajs'], kept['gt_ego_fut_trajs'])


def test_lidar_reference_fields_are_copied_when_present(tiny_e2e_infos):
    """The metric's LiDAR reference point: ``gt_ego_fut_lidar_trajs`` and ``lidar2ego``."""
    l2e = np.array([[0, 1, 0, 0.94], [-1, 0, 0, 0], [0, 0, 1, 1.84], [0, 0, 0, 1]])
    lidar = np.asarray(tiny_e2e_infos[0]['ego_fut_trajs']) + [0.94, 0.0]
    out = BuildPlanningTargets()(dict(tiny_e2e_infos[0], ego_fut_lidar_trajs=lidar, lidar_points=dict(lidar2ego=l2e)))
    assert out['gt_ego_fut_lidar_trajs'].dtype == np.float32
    np.testing.assert_allclose(out['gt_ego_fut_lidar_trajs'], lidar)
    np.testing.assert_allclose(out['lidar2ego'], l2e)
    # a loader's lidar2ego wins; infos without the fields still work
    kept = BuildPlanningTargets()(dict(tiny_e2e_infos[0], lidar2ego=np.eye(4), lidar_points=dict(lidar2ego=l2e)))
    np.testing.assert_array_equal(kept['lidar2ego'], np.eye(4))
    plain = {k: v for k, v in tiny_e2e_infos[0].items() if k != 'ego_fut_lidar_trajs'}
    assert 'gt_ego_fut_lidar_trajs' not in BuildPlanningTargets()(plain)
    with pytest.raises(ValueError, match=r"'tok0'.*'ego_fut_lidar_trajs'"):
        BuildPlanningTargets()(dict(tiny_e2e_infos[0], ego_fut_lidar_trajs=np.zeros((5, 2))))
