# Copyright (c) mmautomot contributors. All rights reserved.
"""Open-loop replay: the expert's drive through the closed-loop observation path gives the dataset's inputs.

MetaDrive's IDM expert drives one episode; every tick's sensor data goes both to the data writer
(:func:`collect_episode`) and to a :class:`ClosedLoopAgent` with a recording driver. For each written frame the
observation the agent hands the model must equal what the training pipeline builds from the written files
(target point, command, ego status, past ego positions, LiDAR), and the controller must read the expert's own
future (the frame's label) as the expert's speed and turn.
"""

import numpy as np
import pytest

pytest.importorskip('metadrive')

EVERY, TICKS = 2, 240


class _Recorder:
    def __init__(self):
        self.obs = {}

    def step(self, obs):
        self.obs[obs['tick']] = obs
        s = np.arange(1, 21, dtype=np.float64)
        return dict(
            meta_actions=np.zeros((3, 2), np.int64),
            path=np.stack([s, 0 * s], 1),
            waypoints=np.stack([np.arange(1, 7) * 0.5, np.zeros(6)], 1),
            timings_ms={},
        )


@pytest.fixture(scope='module')
def replay(tmp_path_factory):
    from metadrive.policy.idm_policy import IDMPolicy
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmautomot.closed_loop import ClosedLoopAgent
    from mmautomot.closed_loop.metadrive.adapter import make_env
    from mmautomot.closed_loop.metadrive.collect import collect_episode
    from mmautomot.closed_loop.metadrive.episode import closed_loop_env_overrides
    from mmautomot.closed_loop.metadrive.sensors import route_from_navigation
    from mmautomot.datasets.bench2drive import Bench2DriveE2EDataset
    from mmautomot.datasets.bench2drive.converter import create_bench2drive_infos

    init_default_scope('mmautomot')
    root = tmp_path_factory.mktemp('replay')
    agent_cfg = Config.fromfile('configs/_base_/closed_loop/metadrive_agent.py').agent.to_dict()
    env = make_env(
        'pg',
        cache_dir=str(root / 'assets'),
        map='C',
        traffic_density=0.0,
        start_seed=3,
        num_scenarios=1,
        agent_policy=IDMPolicy,
        **closed_loop_env_overrides(),
    )
    drv, state = _Recorder(), {}

    def on_tick(step, data):
        if step == 0:
            state['agent'] = ClosedLoopAgent(agent_cfg, driver=drv)
            points, options, _ = route_from_navigation(env.agent.navigation)
            state['agent'].planner.set_route_world(points, options)
        state['agent'].run_step(data)

    try:
        route_dir = str(root / 'data' / 'seed_0003')
        summary = collect_episode(env, 3, route_dir, every=EVERY, max_steps=TICKS, on_tick=on_tick)
    finally:
        env.close()
    infos = create_bench2drive_infos(
        str(root / 'data'), str(root / 'data'), info_prefix='md', layout='pdm_lite', val_ratio=0.0, fps=10.0
    )
    pipeline = [
        dict(type='LoadCarlaPoints', num_feats=4, to_ego=True),
        dict(type='BuildPlanningTargets'),
        dict(type='PackDrivingInputs'),
    ]
    ds = Bench2DriveE2EDataset(data_root=str(root / 'data'), ann_file=infos['train'], pipeline=pipeline)
    return summary, drv.obs, ds


def test_closed_loop_observation_equals_the_dataset_inputs(replay):
    summary, obs, ds = replay
    assert summary['frames'] == len(ds) == TICKS // EVERY
    turned = agree = 0
    for i in range(2, len(ds)):
        inputs = ds[i]['inputs']
        o = obs[i * EVERY]
        np.testing.assert_allclose(o['target_point'], inputs['target_point'].numpy(), atol=1e-3, err_msg=f'frame {i}')
        assert o['command'] == int(inputs['command']), f'frame {i}'
        status = inputs['ego_status'].numpy()
        assert o['ego_status'][0] == pytest.approx(status[0], abs=1e-3), f'frame {i} speed'
        # yaw rate: the simulator's (closed loop) vs pose differences over +-0.1 s (dataset); accelerations:
        # per-tick velocity differences vs +-0.1 s central ones. They differ only where the yaw rate jumps (curve entry,
        # exit: the central difference smooths the step)
        agree += abs(o['ego_status'][3] - status[3]) < 0.03 and np.abs(o['ego_status'][1:3] - status[1:3]).max() < 0.3
        np.testing.assert_allclose(
            o['ego_hist_trajs'], inputs['ego_hist_trajs'].numpy(), atol=1e-3, err_msg=f'frame {i} ego history'
        )
        pts, ref = o['points'], inputs['points'].numpy()
        assert pts.shape == ref.shape, f'frame {i} points'
        np.testing.assert_allclose(np.sort(pts, axis=0), np.sort(ref, axis=0), atol=1e-3, err_msg=f'frame {i} points')
        turned += abs(status[3]) > 0.1
    assert agree >= 0.85 * (len(ds) - 2), f'ego status agrees in {agree} of {len(ds) - 2} frames'
    assert turned > 5  # map 'C': a curve, so the yaw-rate and frame checks mean something


def test_controller_reads_the_expert_future_as_the_expert_drove(replay):
    from mmengine.config import Config

    from mmautomot.closed_loop.controller import TrajectoryController

    ds = replay[2]
    ctrl_cfg = Config.fromfile('configs/_base_/closed_loop/metadrive_agent.py').agent.control.to_dict()
    checked = 0
    for i in range(5, len(ds) - 10, 3):
        info = ds.get_data_info(i)
        fut, speed = np.asarray(info['ego_fut_trajs']), float(info['ego_status'][0])
        out = TrajectoryController(**ctrl_cfg).step(fut, speed, np.asarray(info['ego_path']))
        # the expert's own future (0.5 s waypoints) asks for the speed it drove over the next second
        later = float(ds.get_data_info(i + 10)['ego_status'][0])
        assert min(speed, later) - 0.5 <= out['desired_speed'] <= max(speed, later) + 0.5, f'frame {i}'
        # and steers the way the expert turned over the next 0.8 s (about the controller's lookahead at 8 m/s)
        yaw_rate = float(np.mean([ds.get_data_info(i + k)['ego_status'][3] for k in range(1, 9)]))
        if abs(yaw_rate) > 0.1:
            assert np.sign(out['angle']) == np.sign(yaw_rate), f'frame {i}: angle {out["angle"]} yaw rate {yaw_rate}'
            checked += 1
    assert checked >= 3


def test_training_prompt_equals_the_closed_loop_prompt(replay):
    """The MetaDrive AutoMoT config trains on the UE text the closed-loop Driver gives the model."""
    import torch
    from mmengine.config import Config

    from mmautomot.apis import init_model
    from mmautomot.datasets.bench2drive import Bench2DriveE2EDataset
    from mmautomot.structures import DrivingDataSample

    _, obs, ds = replay
    cfg = Config.fromfile('projects/automot/configs/automot_tiny_1xb4-1600i_metadrive.py')
    model = init_model(cfg)
    build = next(t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'BuildPlanningTargets')
    pipeline = [dict(type='LoadCarlaPoints', num_feats=4, to_ego=True), build, dict(type='PackDrivingInputs')]
    train = Bench2DriveE2EDataset(data_root=ds.data_root, ann_file=ds.ann_file, pipeline=pipeline)
    for i in (3, 40, 90):
        sample = train[i]
        hist = torch.zeros(1, 2, 3, 4, 4, dtype=torch.uint8)  # prompts() reads the batch size from it
        inputs = dict(img_hist=hist, command=torch.as_tensor(sample['inputs']['command']).reshape(1))
        inputs['ego_status'] = torch.as_tensor(sample['inputs']['ego_status']).reshape(1, 4)
        trained = model.prompts(inputs, [sample['data_samples']])
        o = obs[i * EVERY]
        closed = dict(img_hist=hist, command=torch.tensor([o['command']]))
        closed['ego_status'] = torch.as_tensor(o['ego_status'])[None]
        assert trained == model.prompts(closed, [DrivingDataSample()]), f'frame {i}'
