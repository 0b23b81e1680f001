# Copyright (c) mmautomot contributors. All rights reserved.
"""nuScenes-format scenes -> MetaDrive ScenarioDescription, ScenarioEnv episodes, red lights."""

import pickle

import numpy as np
import pytest

pytest.importorskip('metadrive')

from mmautomot.closed_loop.metadrive import make_env  # noqa: E402
from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides, run_episode  # noqa: E402
from mmautomot.closed_loop.metadrive.scenario import (  # noqa: E402
    SDC_ID,
    convert_info_scenes,
    sanity_check,
    scene_to_scenario,
)
from mmautomot.closed_loop.metadrive.scenario_map import (  # noqa: E402
    JUNCTION_HALF,
    STOP,
    grid_map_features,
    light_cycle_states,
)
from mmautomot.closed_loop.metadrive.scoring import PENALTIES  # noqa: E402
from mmautomot.utils.safe_pickle import load_pickle_safe  # noqa: E402

CATS = dict(car=0, pedestrian=8)
AGENT_CFG = dict(
    sensors=[dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, yaw=-90.0)],
    dt=0.05,
    fallback=dict(required_sensors=[]),
)


def _pose(x, y, yaw):
    m = np.eye(4)
    m[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    m[:2, 3] = x, y
    return m


def _frames(x0=110.0, speed=7.0, n=21, with_car=True, car_x=20.0):
    """Keyframes (2 Hz) of an ego driving east on the right lane of the road y = 150 through junction (150, 150),
    and a car ``car_x`` m ahead of it (in the LiDAR frame = ego frame here) at the same speed."""
    out = []
    for k in range(n):
        t = 0.5 * k
        inst = []
        if with_car and k < n - 2:  # the car leaves the data before the end
            inst.append(
                dict(
                    bbox_3d=[car_x, 0.0, 0.8, 4.5, 1.9, 1.6, 0.0],
                    bbox_label_3d=0,
                    velocity=[0.0, 0.0],
                    instance_token='car1',
                )
            )
        out.append(
            dict(
                token=f's{k}',
                scene_token='scene-a',
                timestamp=1000.0 + t,
                ego2global=_pose(x0 + speed * t, 150.0 - 1.75, 0.0),
                lidar_points=dict(lidar2ego=np.eye(4)),
                instances=inst,
            )
        )
    return out


def test_scene_to_scenario_tracks_and_sanity():
    frames = _frames()
    feats, stops = grid_map_features()
    sc = scene_to_scenario(frames, {v: k for k, v in CATS.items()}, dt=0.05, map_features=feats, scenario_id='a')
    sanity_check(sc)  # MetaDrive's own check, valid mask included
    assert sc['length'] == 201 and sc['metadata']['sdc_id'] == SDC_ID
    np.testing.assert_allclose(sc['metadata']['ts'][:3], [0.0, 0.05, 0.1])
    ego = sc['tracks'][SDC_ID]['state']
    np.testing.assert_allclose(ego['position'][100, :2], [110.0 + 7.0 * 5.0, 148.25], atol=1e-6)
    np.testing.assert_allclose(ego['velocity'][50], [7.0, 0.0], atol=1e-6)
    car = sc['tracks']['car1']
    assert car['type'] == 'VEHICLE'
    # valid on keyframes 0..18 (t <= 9 s) only, interpolated between them: 20 m ahead of the ego
    assert car['state']['valid'][:181].all() and not car['state']['valid'][181:].any()
    np.testing.assert_allclose(car['state']['position'][37, :2], [130.0 + 7.0 * 1.85, 148.25], atol=1e-6)
    np.testing.assert_allclose(car['state']['length'][:181], 4.5)
    assert np.all(car['state']['position'][181:] == 0)
    # the map: lanes of every direction plus a light stop point at the junction approach
    assert feats['lane_1_2_2_2']['type'] == 'LANE_SURFACE_STREET'
    np.testing.assert_allclose(stops['lane_1_2_2_2']['stop_point'][:2], [150.0 - JUNCTION_HALF, 148.25], atol=1e-6)
    with pytest.raises(ValueError, match='scene x: needs at least 2 keyframes'):
        scene_to_scenario(frames[:1], {}, scenario_id='x')


def test_light_cycle_phases():
    stops = dict(ew=dict(stop_point=np.zeros(3), axis='x'), ns=dict(stop_point=np.zeros(3), axis='y'))
    ts = np.arange(0.0, 24.0, 1.0)
    s = light_cycle_states(stops, ts, cycle=(10.0, 2.0))
    ew, ns = s['ew']['state']['object_state'], s['ns']['state']['object_state']
    assert ew[:10] == ['LANE_STATE_GO'] * 10 and ew[10:12] == ['LANE_STATE_CAUTION'] * 2 and ew[12:] == [STOP] * 12
    assert ns[:12] == [STOP] * 12 and ns[12:22] == ['LANE_STATE_GO'] * 10
    with pytest.raises(ValueError, match='must be positive'):
        light_cycle_states(stops, ts, cycle=(0.0, 2.0))


def test_convert_synthetic_info_pkl(tmp_path):
    """The toolbox's own synthetic nuScenes scenes, through tools/create_data.py's converter, pass sanity_check."""
    from mmautomot.datasets.converters import create_nuscenes_infos
    from mmautomot.datasets.synthetic import SyntheticNuScenesConfig, make_synthetic_nuscenes

    data = tmp_path / 'data'
    make_synthetic_nuscenes(
        str(data), SyntheticNuScenesConfig(num_scenes=1, num_keyframes=6, image_size=(64, 36), seed=5), verbose=False
    )
    infos = create_nuscenes_infos(str(data), str(data), version='v1.0-mini', max_sweeps=0)
    root = next(iter(infos.values()))
    out = tmp_path / 'sd'
    names = convert_info_scenes(root, str(out), max_scenes=1, lights=dict(cycle=(10.0, 2.0)))
    summary = load_pickle_safe(str(out / 'dataset_summary.pkl'))
    assert list(summary) == names and len(names) == 1
    with open(out / names[0], 'rb') as f:
        sc = pickle.load(f)
    sanity_check(sc)
    assert len(sc['tracks']) > 1 and sc['dynamic_map_states'] and sc['map_features']


def test_evaluate_scenario_env_from_info_pkl(tmp_path):
    """env.kind='scenario' with env.info_file: converted into OUT/scenarios, episodes scored, results.json.

    Runs before the module's env fixture exists (MetaDrive allows one engine per process).
    """
    import json

    import mmengine

    from mmautomot.closed_loop.metadrive.evaluate import evaluate

    info = tmp_path / 'infos.pkl'
    mmengine.dump(dict(metainfo=dict(categories=CATS, version='test'), data_list=_frames()), str(info))
    cfg = dict(
        agent=AGENT_CFG,
        driver=dict(type='unused'),
        env=dict(kind='scenario', info_file=str(info), lights=dict(cycle=(10.0, 2.0), offset_s=12.0)),
        episode=dict(max_steps=60),
    )
    out = evaluate(cfg, 2, 0, str(tmp_path / 'out'), progress=False, driver=ScriptedDriver(8.0))
    assert (tmp_path / 'out' / 'scenarios' / 'dataset_summary.pkl').is_file()
    assert out['summary']['num_episodes'] == 2 and not out['summary']['failures']
    with open(tmp_path / 'out' / 'results.json') as f:
        res = json.load(f)
    assert [e['steps'] for e in res['episodes']] == [60, 60]  # seed 1 wraps to the only scenario
    assert res['summary']['route_completion']['mean'] > 0
    assert (tmp_path / 'out' / res['episodes'][0]['dir'] / 'bev.png').is_file()
    with pytest.raises(KeyError, match='need env.info_file'):
        evaluate(dict(cfg, env=dict(kind='scenario', lights=dict())), 1, 0, str(tmp_path / 'o2'), driver=object())


def _write_dataset(out, sc, name='sd_test.pkl'):
    with open(out / name, 'wb') as f:
        pickle.dump(sc, f)
    with open(out / 'dataset_summary.pkl', 'wb') as f:
        pickle.dump({name: dict(sc['metadata'])}, f)
    with open(out / 'dataset_mapping.pkl', 'wb') as f:
        pickle.dump({name: ''}, f)


def test_replayed_or_idm_traffic(tmp_path):
    """Replay by default; reactive_traffic=True hands a moving car behind the ego to IDM (MetaDrive gives IDM
    only to same-direction vehicles behind the ego; the others keep replaying)."""
    feats, _ = grid_map_features()
    sc = scene_to_scenario(_frames(car_x=-15.0), {v: k for k, v in CATS.items()}, 0.05, feats, scenario_id='idm')
    _write_dataset(tmp_path, sc)
    policies = {}
    for reactive in (False, True):
        env = make_env(
            'scenario',
            cache_dir=str(tmp_path / 'md' / 'metadrive_0.4.3' / 'assets'),
            data_directory=str(tmp_path),
            num_scenarios=1,
            start_scenario_index=0,
            reactive_traffic=reactive,
            **closed_loop_env_overrides(kind='scenario'),
        )
        try:
            env.reset(seed=0)
            ids = env.engine.traffic_manager.scenario_id_to_obj_id
            policies[reactive] = type(env.engine.get_policy(ids['car1'])).__name__
        finally:
            env.close()
    assert policies == {False: 'ReplayTrafficParticipantPolicy', True: 'TrajectoryIDMPolicy'}


class ScriptedDriver:
    """Drives straight ahead at ``speed`` m/s for ``go_ticks`` ticks, then plans to stand still."""

    def __init__(self, speed, go_ticks=10**6):
        self.speed, self.go_ticks, self.n = speed, go_ticks, 0

    def step(self, obs):
        self.n += 1
        v = self.speed if self.n <= self.go_ticks else 0.0
        wps = np.array([[v * 0.5 * (i + 1), 0.0] for i in range(6)])
        return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)


@pytest.fixture(scope='module')
def red_light_env(tmp_path_factory):
    """A one-scenario dataset: the ego's approach to junction (150, 150) is red for the whole episode."""
    out = tmp_path_factory.mktemp('sd')
    feats, stops = grid_map_features()
    lights = lambda ts: light_cycle_states(stops, ts, cycle=(10.0, 2.0), offset_s=12.0)  # noqa: E731
    sc = scene_to_scenario(_frames(with_car=False), {}, 0.05, feats, lights, scenario_id='red')
    sanity_check(sc)
    assert set(sc['dynamic_map_states']['lane_1_2_2_2']['state']['object_state']) == {STOP}
    with open(out / 'sd_test_red.pkl', 'wb') as f:
        pickle.dump(sc, f)
    with open(out / 'dataset_summary.pkl', 'wb') as f:
        pickle.dump({'sd_test_red.pkl': dict(sc['metadata'])}, f)
    with open(out / 'dataset_mapping.pkl', 'wb') as f:
        pickle.dump({'sd_test_red.pkl': ''}, f)
    cache = tmp_path_factory.mktemp('md') / 'metadrive_0.4.3' / 'assets'
    env = make_env(
        'scenario',
        cache_dir=str(cache),
        data_directory=str(out),
        num_scenarios=1,
        start_scenario_index=0,
        **closed_loop_env_overrides(kind='scenario'),
    )
    yield env
    env.close()


def test_red_light_runner_penalised_stopper_not(red_light_env):
    ecfg = dict(max_steps=160, blocked_s=100.0)
    run = run_episode(red_light_env, ScriptedDriver(8.0), AGENT_CFG, seed=0, episode_cfg=ecfg)
    assert run['failure'] is None, run['failure']
    reds = run['record']['infractions']['red_light']
    assert len(reds) == 1, run['record']['infractions']
    # crossed the stop line (33.25 m ahead of the start)
    assert np.ptp(run['trajectory'][:, 0]) > 34.0
    sc = run['record']['scores']
    assert sc['score_penalty'] == pytest.approx(PENALTIES['red_light'])
    assert sc['score_composed'] == pytest.approx(sc['score_route'] * PENALTIES['red_light'])
    stop = run_episode(red_light_env, ScriptedDriver(6.0, go_ticks=40), AGENT_CFG, seed=0, episode_cfg=ecfg)
    assert stop['failure'] is None and stop['record']['infractions']['red_light'] == []
    assert np.ptp(stop['trajectory'][:, 0]) < 30.0 and stop['record']['scores']['score_penalty'] == 1.0


def test_crossed_stop_line_only_along_own_lane():
    from mmautomot.closed_loop.metadrive.lights import crossed_stop_line

    stop = np.array([10.0, 0.0])
    assert crossed_stop_line(np.array([9.8, 0.0]), np.array([10.1, 0.0]), 0.0, stop, 0.0, 3.5)
    assert not crossed_stop_line(np.array([9.5, 0.0]), np.array([9.9, 0.0]), 0.0, stop, 0.0, 3.5)  # not yet
    assert not crossed_stop_line(np.array([9.8, 2.5]), np.array([10.1, 2.5]), 0.0, stop, 0.0, 3.5)  # next lane
    # the oncoming lane's light (heading pi) at the same place: the ego moves against it
    assert not crossed_stop_line(np.array([9.8, 0.0]), np.array([10.1, 0.0]), 0.0, stop, np.pi, 3.5)
