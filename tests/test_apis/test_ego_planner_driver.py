# Copyright (c) mmautomot contributors. All rights reserved.
"""EgoPlannerDriver: the baselines in the closed loop get the history the training labels have."""

import numpy as np

from mmautomot.apis import EgoPlannerDriver
from mmautomot.models.planners.constant_velocity import ConstantVelocityPlanner
from mmautomot.models.planners.ego_mlp import EgoMLPPlanner


def _obs(speed, yaw_rate=0.0, reset=False):
    return dict(
        images={},
        points=np.zeros((0, 4), np.float32),
        speed=speed,
        target_point=np.array([10.0, 0.0]),
        command=3,
        ego_status=np.array([speed, 0, 0, yaw_rate], np.float32),
        reset=reset,
    )


def test_history_is_dead_reckoned_every_plan_dt_and_clamped_at_the_start():
    drv = EgoPlannerDriver(EgoMLPPlanner(hist_steps=4, hidden_dims=(8,)), dt=0.05)
    drv.step(_obs(5.0, reset=True))
    np.testing.assert_allclose(drv._history(), np.zeros((4, 2)))  # clamped to the first tick
    for _ in range(60):
        drv.step(_obs(5.0))
    np.testing.assert_allclose(drv._history(), [[-10, 0], [-7.5, 0], [-5, 0], [-2.5, 0]], atol=1e-5)
    drv.step(_obs(5.0, reset=True))
    np.testing.assert_allclose(drv._history(), np.zeros((4, 2)))


def test_turning_history_lies_behind_and_to_the_side():
    drv = EgoPlannerDriver(EgoMLPPlanner(hist_steps=4, hidden_dims=(8,)), dt=0.05)
    drv.step(_obs(5.0, 0.5, reset=True))
    for _ in range(40):
        drv.step(_obs(5.0, 0.5))
    hist = drv._history()
    # a left turn of radius v / w = 10 m: the past lies behind and to the left on the same circle
    theta = 0.5 * np.array([2.0, 1.5, 1.0, 0.5])
    np.testing.assert_allclose(hist, np.stack([-10 * np.sin(theta), 10 * (1 - np.cos(theta))], 1), atol=0.1)


def test_constant_velocity_plan():
    drv = EgoPlannerDriver(ConstantVelocityPlanner(fut_steps=6, plan_dt=0.5), dt=0.05)
    out = drv.step(_obs(4.0, reset=True))
    np.testing.assert_allclose(out['waypoints'], np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], 1), atol=1e-6)
    assert out['path'].shape == (6, 2) and out['meta_actions'].shape == (3, 2)


def test_the_agents_ego_history_replaces_dead_reckoning():
    seen = []
    model = EgoMLPPlanner(hist_steps=4, hidden_dims=(8,))
    predict = model.predict_trajs
    model.predict_trajs = lambda inputs: seen.append(inputs['ego_hist_trajs'].numpy()) or predict(inputs)
    drv = EgoPlannerDriver(model, dt=0.05)
    hist = np.array([[-4, 1], [-3, 0.5], [-2, 0.2], [-1, 0]], np.float32)
    drv.step(dict(_obs(5.0, reset=True), ego_hist_trajs=hist))
    np.testing.assert_array_equal(seen[-1][0], hist)
    drv.step(dict(_obs(5.0), ego_hist_trajs=hist[:2]))  # another length: the driver's own estimate
    np.testing.assert_allclose(seen[-1][0], drv._history())
