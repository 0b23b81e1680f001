# Copyright (c) mmautomot contributors. All rights reserved.
import json

import numpy as np
import pytest

from mmautomot.structures.commands import COMMANDS
from projects.drivemoe.drivemoe import (
    CAMERA_VIEWS,
    SKILLS,
    BuildDriveMoELabels,
    camera_label_from_rules,
    parse_route_name,
    read_label_file,
    skill_label_from_rules,
)

C = {n: i for i, n in enumerate(COMMANDS)}
V = {n: i for i, n in enumerate(CAMERA_VIEWS)}


def test_camera_rules():
    far_or_front = np.array([[20.0, 1.0], [60.0, 40.0]])
    assert camera_label_from_rules(C['turn_left'], far_or_front) == V['CAM_FRONT_LEFT']
    assert camera_label_from_rules(C['turn_right'], None) == V['CAM_FRONT_RIGHT']
    assert camera_label_from_rules(C['change_lane_left'], None) == V['CAM_BACK_LEFT']
    assert camera_label_from_rules(C['change_lane_right'], None) == V['CAM_BACK_RIGHT']
    # nothing critical (agents in the front view or far): NULL -> CAM_BACK
    assert camera_label_from_rules(C['lane_follow'], far_or_front) == V['CAM_BACK']
    # the nearest agent outside the front view picks the sector
    assert camera_label_from_rules(C['lane_follow'], np.array([[3.0, 5.0], [-5.0, -20.0]])) == V['CAM_FRONT_LEFT']
    assert camera_label_from_rules(C['lane_follow'], np.array([[-4.0, -3.0]])) == V['CAM_BACK_RIGHT']
    assert camera_label_from_rules(C['lane_follow'], np.array([[-10.0, 0.5]])) == V['CAM_BACK']
    assert camera_label_from_rules(C['go_straight'], np.array([[2.0, -6.0]])) == V['CAM_FRONT_RIGHT']


def test_skill_rules_and_route_names():
    assert parse_route_name('/data/ParkingExit_Town12_Route922_Weather12') == dict(
        scenario='ParkingExit', town='Town12', route='922', weather='12'
    )
    assert parse_route_name('HazardAtSideLane_Town05_Route1_Weather3')['scenario'] == 'HazardAtSideLane'
    assert parse_route_name('scene-0001') is None
    S = {n: i for i, n in enumerate(SKILLS)}
    assert skill_label_from_rules(C['lane_follow'], -5.0, 'ParkingExit') == S['emergency_brake']
    assert skill_label_from_rules(C['lane_follow'], 0.0, 'ParkingExit') == S['parking_exit']
    assert skill_label_from_rules(C['lane_follow'], 0.0, 'YieldToEmergencyVehicle') == S['give_way']
    assert skill_label_from_rules(C['change_lane_left'], 0.0, None) == S['merging']
    assert skill_label_from_rules(C['go_straight'], float('nan'), 'UnknownThing') == S['normal']


def test_released_label_files(tmp_path):
    route = 'Accident_Town03_Route101_Weather23'
    cam_dir, sc_dir = tmp_path / 'camera_labels', tmp_path / 'scenario_labels'
    cam_dir.mkdir(), sc_dir.mkdir()
    (cam_dir / f'{route}.json').write_text(json.dumps({'0': 'NULL', '1': 'CAM_FRONT_LEFT', '2': 'CAM_BACK_RIGHT'}))
    (sc_dir / f'{route}.json').write_text(json.dumps({'0': 'NORMAL', '1': 'OVERTAKING', '2': 'TRAFFIC_LIGHT'}))
    assert read_label_file(str(cam_dir / f'{route}.json')) == {0: 2, 1: 0, 2: 4}
    assert read_label_file(str(sc_dir / f'{route}.json'), 'scenario') == {0: 6, 1: 2, 2: 5}
    t = BuildDriveMoELabels(camera_label_dir=str(cam_dir), scenario_label_dir=str(sc_dir))
    out = t(dict(scene_token=route, token=f'{route}_00001', command=3, ego_status=np.zeros(4)))
    assert (out['camera_label'], out['scenario_label']) == (0, 2)
    with pytest.raises(KeyError, match='has no frame 7'):
        t(dict(scene_token=route, token='x_00007', command=3))
    with pytest.raises(FileNotFoundError, match='no camera label file'):
        t(dict(scene_token='Other_Town01_Route1_Weather1', token='0', command=3))
    (cam_dir / 'bad.json').write_text(json.dumps({'0': 'CAM_FRONT'}))
    with pytest.raises(ValueError, match="bad.json frame 0: camera label 'CAM_FRONT'"):
        read_label_file(str(cam_dir / 'bad.json'))
    # rules when no files are given
    rules = BuildDriveMoELabels()(
        dict(
            scene_token=route,
            token='t',
            command=C['lane_follow'],
            ego_status=np.array([5.0, 0.0, 0.0, 0.0], np.float32),
            plan_agent_boxes=np.array([[-8.0, 0.2, 0, 4, 2, 1.5, 0]], np.float32),
        )
    )
    assert (rules['camera_label'], rules['scenario_label']) == (V['CAM_BACK'], SKILLS.index('overtaking'))
