# Copyright (c) mmautomot contributors. All rights reserved.
"""The agent core sends past ego positions (``ego_hist_trajs``) at the dataset's spacing."""

import numpy as np
import pytest
from closed_loop_fakes import SENSORS, FakeDriver, make_input_data, straight_route_gps

from mmautomot.closed_loop import ClosedLoopAgent
from mmautomot.closed_loop.protocol import ObservationError, validate_observation


def _run(ticks, y_of=lambda k: 0.0, **cfg):
    drv = FakeDriver()
    agent = ClosedLoopAgent(dict(sensors=SENSORS, **cfg), driver=drv)
    agent.set_global_plan_gps(straight_route_gps())
    for k in range(ticks):  # 2 m/s along CARLA +x (facing +x: compass pi/2)
        agent.run_step(make_input_data(k, x=0.1 * k, y=y_of(k)))
    return drv.observations


def test_ego_history_every_half_second_oldest_first_clamped_to_the_route_start():
    obs = _run(26)
    # tick 25 at x = 2.5: ticks -15 and -5 clamp to the first pose (x 0), then ticks 5 (x 0.5) and 15 (x 1.5)
    np.testing.assert_allclose(obs[25]['ego_hist_trajs'], [[-2.5, 0], [-2.5, 0], [-2.0, 0], [-1.0, 0]], atol=1e-3)
    assert obs[25]['ego_hist_trajs'].dtype == np.float32
    np.testing.assert_allclose(obs[0]['ego_hist_trajs'], np.zeros((4, 2)), atol=1e-6)
    validate_observation(obs[25])  # a model server accepts it


def test_ego_history_is_in_the_current_ego_frame_and_optional():
    # CARLA y + is right: a car that drifted right has its past positions on its left (ego y +)
    obs = _run(11, y_of=lambda k: 0.05 * k, ego_history=dict(steps=2, dt=0.25))
    np.testing.assert_allclose(obs[10]['ego_hist_trajs'], [[-1.0, 0.5], [-0.5, 0.25]], atol=1e-3)
    assert 'ego_hist_trajs' not in _run(2, ego_history=dict(steps=0))[1]


def test_observation_check_names_a_bad_ego_history():
    obs = _run(1)[0]
    obs['ego_hist_trajs'] = np.zeros((4, 3), np.float32)
    with pytest.raises(ObservationError, match="'ego_hist_trajs' must be a finite \\(H, 2\\)"):
        validate_observation(obs)
