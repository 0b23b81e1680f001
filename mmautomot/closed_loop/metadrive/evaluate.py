# Copyright (c) mmautomot contributors. All rights reserved.
"""A MetaDrive closed-loop evaluation: N episodes (seeds S, S+1, ...), per-episode outputs, summary.

Config (an mmengine config, see ``configs/metadrive/``)::

    agent = dict(...)            # the Bench2Drive agent config (configs/_base_/closed_loop/metadrive_agent.py)
    driver = dict(type=...)      # see build_driver
    env = dict(kind='pg', map='SCS', traffic_density=0.1, num_scenarios=100, start_seed=0, camera=None)
    # or nuScenes-format scenes replayed in ScenarioEnv (see .scenario.scenario_env_config):
    env = dict(kind='scenario', info_file='data/nuscenes-synthetic/nuscenes_infos_val.pkl',
               map_source='synthetic_grid', lights=dict(cycle=(10.0, 2.0)), reactive_traffic=False)
    episode = dict(max_steps=600, blocked_s=20.0, offroad_s=3.0)

Outputs in ``out_dir``: ``results.json`` (``summary`` with driving_score / route_completion /
success_rate as mean / std over episodes, ``episodes`` list, ``config``) and per episode
``episodes/<i>/`` with the agent logs (``metric_info.json``, ``latency.json``, ``events.json``,
``agent_config.json``), ``record.json``, ``bev.png`` (route, driven trajectory, collisions) and, with
a camera, ``camera.mp4`` (10 fps; the 3 x 2 mosaic with the six-camera rig; ``camera.gif`` when
``env.video_format='gif'`` or OpenCV cannot write mp4; ``env.video=False`` turns it off).
"""

import copy
import os
import os.path as osp
import time
from typing import Optional

import numpy as np

from ..recorder import write_json
from .episode import closed_loop_env_overrides, run_episode
from .scoring import summarize
from .video import mosaic, save_video


def build_driver(cfg: dict, dt: float = 0.05, checkpoint: Optional[str] = None):
    """The driver of a MetaDrive evaluation config.

    ``cfg['driver']['type']``:

    * ``'ego_planner'``: the config's ``model`` (an ego-state planner: ``ConstantVelocityPlanner``,
      ``EgoMLPPlanner``) in an :class:`~mmautomot.apis.EgoPlannerDriver`;
    * ``'automot'``: the config's ``model`` (AutoMoT) in a :class:`~mmautomot.apis.Driver` with
      ``driver.driver_kwargs`` (UE refresh overrides, e.g. ``--cfg-options driver.driver_kwargs.mode=background``
      for the background UE worker, ``=sync`` for AutoMoT-S);
    * ``'local'`` / ``'remote'``: :func:`mmautomot.closed_loop.protocol.build_driver` (another config
      file, or a model server).

    ``checkpoint`` (``--checkpoint``) replaces ``driver.checkpoint``; without either the model keeps its
    initial weights (right for the constant-velocity planner, which has none to learn).
    """
    dcfg = copy.deepcopy(dict(cfg['driver']))
    kind = dcfg.pop('type', None)
    ckpt = checkpoint if checkpoint is not None else dcfg.pop('checkpoint', None)
    if kind in ('ego_planner', 'automot'):
        from mmengine.config import Config

        from mmautomot.apis import Driver, EgoPlannerDriver, init_model

        if 'model' not in cfg:
            raise KeyError(f"driver type {kind!r} builds the config's `model`, but the config has none")
        model = init_model(Config(copy.deepcopy(dict(cfg))), ckpt, device=dcfg.get('device', 'cpu'))
        if kind == 'ego_planner':
            return EgoPlannerDriver(model, dt=dt)
        return Driver(model, **dcfg.get('driver_kwargs', {}))
    from ..protocol import build_driver as build_protocol_driver

    if ckpt is not None:
        dcfg['checkpoint'] = ckpt
    return build_protocol_driver(dict(dcfg, type=kind))


def plot_episode_bev(result: dict, path: str) -> None:
    """Route (grey), driven trajectory (blue, start o / end x) and collisions (red) of one episode."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6), dpi=80)
    route, traj = np.asarray(result['route']), np.asarray(result['trajectory'])
    if len(route):
        ax.plot(route[:, 0], route[:, 1], color='0.6', lw=6, alpha=0.5, label='route')
    if len(traj):
        ax.plot(traj[:, 0], traj[:, 1], color='tab:blue', lw=1.5, label='ego')
        ax.plot(*traj[0], 'o', color='tab:blue')
        ax.plot(*traj[-1], 'x', color='tab:blue', ms=10)
        for name, items in result['record']['infractions'].items():
            if name.startswith('collisions'):
                for msg in items:
                    tick = int(msg.split('tick ')[1].split(' ')[0])
                    if tick < len(traj):
                        ax.plot(*traj[tick], '*', color='red', ms=14)
    rec = result['record']
    ax.set_title(
        f'seed {result["seed"]}: {rec["status"]}\nDS {rec["scores"]["score_composed"]:.1f}, '
        f'RC {rec["scores"]["score_route"]:.1f}',
        fontsize=9,
    )
    pts = np.concatenate([a for a in (route, traj) if len(a)] or [np.zeros((1, 2))])
    centre, half = (pts.max(0) + pts.min(0)) / 2, max(float(np.ptp(pts, axis=0).max()) / 2 + 10.0, 20.0)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect('equal')
    ax.set_xlabel('x (m)')
    ax.set_ylabel('y (m)')
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc='best', fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate(
    cfg: dict,
    episodes: int,
    seed: int,
    out_dir: str,
    checkpoint: Optional[str] = None,
    progress: bool = True,
    env=None,
    driver=None,
) -> dict:
    """Run ``episodes`` episodes with seeds ``seed .. seed + episodes - 1`` and write ``results.json``.

    Args:
        cfg (dict): the evaluation config (see the module docstring).
        env / driver: pass built ones to reuse them (tests); built from ``cfg`` otherwise.

    Returns:
        dict: the content of ``results.json``.
    """
    from .adapter import make_env

    agent_cfg = dict(cfg['agent'])
    dt = float(agent_cfg.get('dt', 0.05))
    env_cfg = dict(cfg.get('env', {}))
    kind = env_cfg.pop('kind', 'pg')
    camera = env_cfg.pop('camera', None)
    episode_cfg = dict(cfg.get('episode') or {})
    rig = None
    if camera is not None and camera.get('rig') is not None:  # e.g. camera=dict(width, height, rig='six')
        from .sensors import rig_sensor_specs, six_camera_rig

        if camera['rig'] != 'six':
            raise ValueError(
                f"env.camera.rig must be 'six' (the Bench2Drive 6-camera rig) or None, got {camera['rig']!r}"
            )
        rig = six_camera_rig(int(camera.get('width', 320)), int(camera.get('height', 180)))
        others = [s for s in agent_cfg.get('sensors', []) if not str(s.get('type', '')).startswith('sensor.camera')]
        agent_cfg['sensors'] = others + rig_sensor_specs(rig)
        episode_cfg['camera_rig'] = rig
    video = bool(env_cfg.pop('video', camera is not None))
    video_format = env_cfg.pop('video_format', 'mp4')
    if kind == 'scenario':  # seeds pick scenarios: seed s -> scenario index s % num_scenarios
        from .scenario import scenario_env_config

        env_cfg = scenario_env_config(env_cfg, out_dir, dt)
    else:  # MetaDrive only resets to seeds in [start_seed, start_seed + num_scenarios): widen it to cover ours.
        start, num = int(env_cfg.get('start_seed', 0)), int(env_cfg.get('num_scenarios', 1))
        lo, hi = min(start, int(seed)), max(start + num, int(seed) + int(episodes))
        env_cfg.update(start_seed=lo, num_scenarios=hi - lo)
    own_driver = driver is None
    if own_driver:  # before the env: importing torch / triton after EGL (llvmpipe) is up can crash
        driver = build_driver(cfg, dt=dt, checkpoint=checkpoint)
    own_env = env is None
    if own_env:
        env = make_env(kind, camera=camera, **{**closed_loop_env_overrides(dt, kind), **env_cfg})
    os.makedirs(out_dir, exist_ok=True)
    results, infos = [], []
    seeds = list(range(int(seed), int(seed) + int(episodes)))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(seeds), desc='MetaDrive episodes', unit='ep')
    t0 = time.perf_counter()
    try:
        for i, s in enumerate(seeds):
            ep_dir = osp.join(out_dir, 'episodes', f'{i:03d}_seed{s}')
            frames = []

            def on_tick(tick, frames=frames):
                if not video or tick['step'] % 2:
                    return
                if rig:  # the six views as one mosaic frame
                    views = {n: tick['input_data'][n][1][:, :, 2::-1] for n in rig if n in tick['input_data']}
                    if views:
                        frames.append(mosaic(views))
                elif 'CAM_FRONT' in tick['input_data']:
                    frames.append(np.ascontiguousarray(tick['input_data']['CAM_FRONT'][1][:, :, 2::-1]))

            res = run_episode(
                env,
                driver,
                agent_cfg,
                seed=s % int(env_cfg['num_scenarios']) if kind == 'scenario' else s,
                episode_id=str(i),
                save_dir=ep_dir,
                episode_cfg=episode_cfg,
                on_tick=on_tick,
            )
            plot_episode_bev(res, osp.join(ep_dir, 'bev.png'))
            video_path = None
            if frames:
                video_path = save_video(frames, osp.join(ep_dir, 'camera'), fps=0.5 / dt, fmt=video_format)
            infos.append(res['metric_info'])
            rec = res['record']
            results.append(
                dict(
                    episode=i,
                    seed=s,
                    status=rec['status'],
                    failure=res['failure'],
                    driving_score=rec['scores']['score_composed'],
                    route_completion=rec['scores']['score_route'],
                    penalty=rec['scores']['score_penalty'],
                    infractions={k: v for k, v in rec['infractions'].items() if v},
                    steps=res['steps'],
                    sim_s=res['sim_s'],
                    wall_s=res['wall_s'],
                    dir=osp.relpath(ep_dir, out_dir),
                    video=None if video_path is None else osp.relpath(video_path, out_dir),
                    record=rec,
                )
            )
            if bar is not None:
                bar.update(1)
                bar.set_postfix(ds=f'{np.mean([r["driving_score"] for r in results]):.1f}')
    finally:
        if bar is not None:
            bar.close()
        if own_env:
            env.close()
        if own_driver and hasattr(driver, 'close'):
            driver.close()  # e.g. a Driver's background UE refresh worker
    summary = summarize(results, infos)
    summary['wall_s'] = time.perf_counter() - t0
    out = dict(
        summary=summary,
        episodes=[{k: v for k, v in r.items() if k != 'record'} for r in results],
        seeds=seeds,
        config=cfg,
    )
    write_json(osp.join(out_dir, 'results.json'), out)
    return out
