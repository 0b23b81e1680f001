# Copyright (c) mmautomot contributors. All rights reserved.
"""Short MetaDrive episodes through the Bench2Drive agent core: observations, records, faults."""

import numpy as np
import pytest

pytest.importorskip('metadrive')

from mmautomot.closed_loop.metadrive import make_env  # noqa: E402
from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides, run_episode  # noqa: E402
from mmautomot.closed_loop.metadrive.scoring import PENALTIES, empty_infractions, make_record, summarize  # noqa: E402
from mmautomot.closed_loop.protocol import validate_observation  # noqa: E402

AGENT_CFG = dict(
    sensors=[dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, yaw=-90.0)],
    dt=0.05,
    fallback=dict(required_sensors=[]),
)


class TargetDriver:
    """Drives towards the route target point at ``speed`` m/s; records what it was given."""

    def __init__(self, speed=6.0, fail_at=None):
        self.speed, self.fail_at, self.obs = speed, fail_at, []

    def step(self, obs):
        if self.fail_at is not None and len(self.obs) >= self.fail_at:
            raise RuntimeError('boom in the model')
        self.obs.append(obs)
        tp = np.asarray(obs['target_point'], float)
        wps = np.array([tp / (np.linalg.norm(tp) + 1e-6) * self.speed * 0.5 * (i + 1) for i in range(6)])
        return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp('md') / 'metadrive_0.4.3' / 'assets'
    e = make_env(
        'pg',
        cache_dir=str(cache),
        map='SC',
        traffic_density=0.1,
        num_scenarios=4,
        start_seed=0,
        **closed_loop_env_overrides(),
    )
    yield e
    e.close()


def test_short_episode_drives_and_logs(env, tmp_path):
    drv = TargetDriver()
    res = run_episode(env, drv, AGENT_CFG, seed=1, save_dir=str(tmp_path / 'ep'), episode_cfg=dict(max_steps=120))
    assert res['failure'] is None and res['steps'] == 120
    rec = res['record']
    assert rec['status'] == 'Failed - Route timeout' and rec['infractions']['route_timeout']
    assert 0 < rec['scores']['score_route'] < 100
    moved = np.linalg.norm(res['trajectory'][-1] - res['trajectory'][0])
    assert moved > 10.0  # 6 s of driving towards the target points
    assert len(res['metric_info']) == 120 and (tmp_path / 'ep' / 'metric_info.json').is_file()
    obs = drv.obs[50]
    validate_observation(
        {k: v for k, v in obs.items() if k != 'images'} | dict(images={'CAM_FRONT': np.zeros((2, 2, 3), np.uint8)})
    )
    assert obs['points'].dtype == np.float32 and obs['points'].shape[1] == 4 and len(obs['points']) > 0
    assert np.abs(obs['points'][:, :2]).max() < 32.0
    assert obs['target_point'][0] > 0  # the route lies ahead
    assert drv.obs[0]['reset'] and not drv.obs[1]['reset']
    assert abs(obs['speed'] - np.linalg.norm(np.diff(res['trajectory'][50:52], axis=0)) / 0.05) < 0.5


def test_model_exception_ends_the_episode_as_a_failure(env):
    res = run_episode(env, TargetDriver(fail_at=3), AGENT_CFG, seed=1, episode_cfg=dict(max_steps=50))
    assert res['failure'].startswith('model exception at tick 3') and 'boom in the model' in res['failure']
    assert res['record']['status'].startswith('Failed - model exception')


def test_simulator_error_and_nan_state_are_recorded(env, monkeypatch):
    orig = env.step
    calls = []

    def step(action):
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError('bullet exploded')
        return orig(action)

    monkeypatch.setattr(env, 'step', step)
    res = run_episode(env, TargetDriver(), AGENT_CFG, seed=2, episode_cfg=dict(max_steps=50))
    assert res['failure'].startswith('simulator error at tick 4') and 'bullet exploded' in res['failure']
    monkeypatch.setattr(env, 'step', orig)
    monkeypatch.setattr(type(env.agent), 'speed', property(lambda self: float('nan')))
    res = run_episode(env, TargetDriver(), AGENT_CFG, seed=2, episode_cfg=dict(max_steps=50))
    assert res['failure'].startswith('NaN ego state at tick 0')
    assert res['record']['scores']['score_composed'] == 0.0


def test_record_penalties_and_summary_use_the_bench2drive_code():
    inf = empty_infractions()
    inf['collisions_vehicle'] += ['a', 'b']
    inf['collisions_pedestrian'] += ['c']
    rec = make_record('0', 0.5, inf, 'Failed - Route timeout', offroad_fraction=0.1)
    assert rec['scores']['score_penalty'] == pytest.approx(PENALTIES['collisions_vehicle'] ** 2 * 0.5)
    assert rec['scores']['score_composed'] == pytest.approx(50 * 0.36 * 0.5 * 0.9)
    ok = make_record('1', 1.0, empty_infractions(), 'Completed')
    summ = summarize([dict(record=rec, seed=0), dict(record=ok, seed=1)])
    assert summ['driving_score']['mean'] == pytest.approx((8.1 + 100) / 2)
    assert summ['driving_score']['mean'] == pytest.approx(summ['bench2drive']['driving_score'])
    assert summ['success_rate']['mean'] == 50.0 == summ['bench2drive']['success_rate']
    assert summ['driving_score']['std'] == pytest.approx(np.std([8.1, 100], ddof=1))
    assert summ['collisions']['collisions_vehicle'] == 1.0


def test_latency_holds_actions_back(env):
    fast = run_episode(env, TargetDriver(), AGENT_CFG, seed=1, episode_cfg=dict(max_steps=60))
    slow = run_episode(env, TargetDriver(), AGENT_CFG, seed=1, episode_cfg=dict(max_steps=60, latency=20))
    d_fast = np.linalg.norm(fast['trajectory'][-1] - fast['trajectory'][0])
    d_slow = np.linalg.norm(slow['trajectory'][-1] - slow['trajectory'][0])
    assert d_slow < d_fast - 1.0  # 1 s of braking before the first action arrives
    assert np.linalg.norm(slow['trajectory'][19] - slow['trajectory'][0]) < 0.2
