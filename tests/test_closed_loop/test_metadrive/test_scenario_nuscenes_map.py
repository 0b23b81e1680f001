# Copyright (c) mmautomot contributors. All rights reserved.
"""Real-nuScenes map path of the scenario converter on a tiny hand-written map expansion (devkit v1.3 schema)."""

import json
import pickle

import numpy as np
import pytest

pytest.importorskip('metadrive')
pytest.importorskip('nuscenes.map_expansion.map_api')

from mmautomot.closed_loop.metadrive.scenario import convert_info_scenes, sanity_check  # noqa: E402

LOCATION = 'singapore-onenorth'


def _expansion():
    """One eastbound lane y in [46.5, 50] from x = 10 to 90, a light stop line at x = 60, a crossing at 70."""
    nodes, polys, lines = [], [], []

    def poly(tok, pts):
        toks = []
        for i, (x, y) in enumerate(pts):
            nodes.append(dict(token=f'{tok}_n{i}', x=float(x), y=float(y)))
            toks.append(f'{tok}_n{i}')
        polys.append(dict(token=tok, exterior_node_tokens=toks, holes=[]))

    def line(tok, pts):
        toks = []
        for i, (x, y) in enumerate(pts):
            nodes.append(dict(token=f'{tok}_n{i}', x=float(x), y=float(y)))
            toks.append(f'{tok}_n{i}')
        lines.append(dict(token=tok, node_tokens=toks))

    poly('p_lane', [(10, 46.5), (90, 46.5), (90, 50), (10, 50)])
    poly('p_drive', [(0, 45), (100, 45), (100, 55), (0, 55)])
    poly('p_stop', [(60, 46.5), (61, 46.5), (61, 50), (60, 50)])
    poly('p_ped', [(70, 45), (73, 45), (73, 55), (70, 55)])
    line('l_div', [(0, 50), (100, 50)])
    line('l_tl', [(61, 44), (61, 45)])
    return dict(
        version='1.3',
        canvas_edge=[200.0, 200.0],
        node=nodes,
        line=lines,
        polygon=polys,
        drivable_area=[dict(token='da', polygon_tokens=['p_drive'])],
        road_segment=[],
        road_block=[],
        lane=[
            dict(
                token='lane_e',
                polygon_token='p_lane',
                lane_type='CAR',
                from_edge_line_token=None,
                to_edge_line_token=None,
                left_lane_divider_segments=[],
                right_lane_divider_segments=[],
            )
        ],
        ped_crossing=[dict(token='ped', polygon_token='p_ped', road_segment_token=None)],
        walkway=[],
        stop_line=[
            dict(
                token='stop',
                polygon_token='p_stop',
                stop_line_type='TRAFFIC_LIGHT',
                ped_crossing_tokens=[],
                traffic_light_tokens=['tl'],
                road_block_token=None,
            )
        ],
        carpark_area=[],
        road_divider=[dict(token='rdiv', line_token='l_div', road_segment_token=None)],
        lane_divider=[],
        traffic_light=[
            dict(token='tl', line_token='l_tl', traffic_light_type='VERTICAL', from_road_block_token=None, items=[])
        ],
        arcline_path_3=dict(
            lane_e=[
                dict(
                    start_pose=[10.0, 48.25, 0.0],
                    end_pose=[90.0, 48.25, 0.0],
                    shape='LSR',
                    radius=999.0,
                    segment_length=[0.0, 80.0, 0.0],
                )
            ]
        ),
        connectivity={},
        lane_connector=[],
    )


def test_nuscenes_map_scene_converts_with_light(tmp_path):
    import mmengine

    root = tmp_path / 'nuscenes'
    (root / 'maps' / 'expansion').mkdir(parents=True)
    (root / 'v1.0-mini').mkdir()
    (root / 'maps' / 'expansion' / f'{LOCATION}.json').write_text(json.dumps(_expansion()))
    (root / 'v1.0-mini' / 'scene.json').write_text(json.dumps([dict(token='sc', log_token='log')]))
    (root / 'v1.0-mini' / 'log.json').write_text(json.dumps([dict(token='log', location=LOCATION)]))
    frames = []
    for k in range(21):
        pose = np.eye(4)
        pose[:2, 3] = 20.0 + 2.5 * k, 48.25
        frames.append(dict(token=f's{k}', scene_token='sc', timestamp=100.0 + 0.5 * k, ego2global=pose, instances=[]))
    info = tmp_path / 'infos.pkl'
    mmengine.dump(dict(metainfo=dict(categories=dict(car=0), version='v1.0-mini'), data_list=frames), str(info))
    out = tmp_path / 'sd'
    names = convert_info_scenes(
        str(info), str(out), map_source='nuscenes', data_root=str(root), lights=dict(cycle=(10.0, 2.0))
    )
    with open(out / names[0], 'rb') as f:
        sc = pickle.load(f)
    sanity_check(sc)
    feats = sc['map_features']
    assert feats['lane_e']['type'] == 'LANE_SURFACE_STREET'
    np.testing.assert_allclose(feats['lane_e']['polyline'][[0, -1], :2], [[10.0, 48.25], [90.0, 48.25]], atol=1e-6)
    assert feats['rdiv']['type'] == 'ROAD_LINE_SOLID_SINGLE_YELLOW' and feats['ped']['type'] == 'CROSSWALK'
    assert feats['da_edge0']['type'] == 'ROAD_EDGE_BOUNDARY'
    light = sc['dynamic_map_states']['lane_e']  # the lane that enters the traffic-light stop line
    assert light['stop_point'][0] == pytest.approx(60.0, abs=1.01) and light['stop_point'][1] == pytest.approx(48.25)
    assert light['state']['object_state'][0] == 'LANE_STATE_GO'  # east-west starts green
    with pytest.raises(ValueError, match='needs data_root'):
        convert_info_scenes(str(info), str(out), map_source='nuscenes')
    # and ScenarioEnv drives it through the agent core
    from mmautomot.closed_loop.metadrive import make_env
    from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides, run_episode

    class Straight:
        def step(self, obs):
            wps = np.array([[2.5 * (i + 1), 0.0] for i in range(6)])
            return dict(meta_actions=np.zeros((3, 2), int), path=wps, waypoints=wps)

    agent_cfg = dict(
        sensors=[dict(type='sensor.lidar.ray_cast', id='LIDAR', x=0.0, y=0.0, z=2.5, yaw=-90.0)],
        fallback=dict(required_sensors=[]),
    )

    env = make_env(
        'scenario',
        cache_dir=str(tmp_path / 'md' / 'metadrive_0.4.3' / 'assets'),
        data_directory=str(out),
        num_scenarios=1,
        start_scenario_index=0,
        **closed_loop_env_overrides(kind='scenario'),
    )
    try:
        res = run_episode(env, Straight(), agent_cfg, seed=0, episode_cfg=dict(max_steps=40))
    finally:
        env.close()
    assert res['failure'] is None and res['steps'] == 40 and res['record']['scores']['score_route'] > 0
