# Copyright (c) mmautomot contributors. All rights reserved.
"""The pieces of a MetaDrive evaluation run (:func:`~.evaluate.evaluate`, in-process or in the watchdog's
worker process): driver and env from the config, one episode with its outputs (agent logs,
``record.json``, ``bev.png``, video) and its ``results.json`` entry.
"""

import copy
import os.path as osp
from typing import Optional, Tuple

import numpy as np

from .episode import closed_loop_env_overrides, run_episode
from .video import mosaic, save_video

#: default per-episode wall-clock limit (s) of ``episode.timeout_s`` (None = no watchdog, in-process).
DEFAULT_TIMEOUT_S = 600.0
#: the ``status`` of an episode the watchdog killed.
TIMEOUT_STATUS = 'Failed - Timeout'


def build_driver(cfg: dict, dt: float = 0.05, checkpoint: Optional[str] = None):
    """The driver of a MetaDrive evaluation config.

    ``cfg['driver']['type']``:

    * ``'ego_planner'``: the config's ``model`` (an ego-state planner: ``ConstantVelocityPlanner``,
      ``EgoMLPPlanner``) in an :class:`~mmautomot.apis.EgoPlannerDriver`;
    * ``'automot'``: the config's ``model`` (AutoMoT) in a :class:`~mmautomot.apis.Driver` with
      ``driver.driver_kwargs`` (UE refresh overrides, e.g. ``--cfg-options driver.driver_kwargs.mode=background``
      for the background UE worker, ``=sync`` for AutoMoT-S);
    * ``'factory'``: ``driver.factory='package.module:callable'`` called with ``driver.kwargs`` (a custom
      or test driver that the watchdog's worker process can build from the config);
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
    if kind == 'factory':
        import importlib

        module, _, name = str(dcfg.get('factory', '')).partition(':')
        if not module or not name:
            raise ValueError(f"driver.factory must be 'package.module:callable', got {dcfg.get('factory')!r}")
        return getattr(importlib.import_module(module), name)(**dcfg.get('kwargs', {}))
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


def prepare(cfg: dict, episodes: int, seed: int, out_dir: str) -> dict:
    """The per-run settings of an evaluation config (agent config with the camera rig, env kwargs, video).

    Returns:
        dict: ``agent_cfg``, ``dt``, ``kind``, ``camera``, ``env_cfg`` (MetaDrive kwargs, seed range
        widened to cover the run), ``episode_cfg`` (without ``timeout_s``), ``timeout_s``, ``rig``,
        ``video``, ``video_format``.
    """
    agent_cfg = dict(cfg['agent'])
    dt = float(agent_cfg.get('dt', 0.05))
    env_cfg = dict(cfg.get('env', {}))
    kind = env_cfg.pop('kind', 'pg')
    camera = env_cfg.pop('camera', None)
    episode_cfg = dict(cfg.get('episode') or {})
    timeout_s = episode_cfg.pop('timeout_s', DEFAULT_TIMEOUT_S)
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
    return dict(
        agent_cfg=agent_cfg,
        dt=dt,
        kind=kind,
        camera=camera,
        env_cfg=env_cfg,
        episode_cfg=episode_cfg,
        timeout_s=None if timeout_s is None else float(timeout_s),
        rig=rig,
        video=video,
        video_format=video_format,
    )


def build_env(ctx: dict):
    """The MetaDrive env of :func:`prepare`'s settings (build the driver first: EGL before torch can crash)."""
    from .adapter import make_env

    kind = ctx['kind']
    return make_env(kind, camera=ctx['camera'], **{**closed_loop_env_overrides(ctx['dt'], kind), **ctx['env_cfg']})


def episode_dir(out_dir: str, i: int, seed: int) -> str:
    return osp.join(out_dir, 'episodes', f'{i:03d}_seed{seed}')


def result_row(i: int, seed: int, rec: dict, out_dir: str, ep_dir: str, **fields) -> dict:
    """One ``results.json`` episode entry (with the full ``record``, dropped when written)."""
    s = rec['scores']
    row = dict(
        episode=i,
        seed=seed,
        status=rec['status'],
        failure=None,
        driving_score=s['score_composed'],
        route_completion=s['score_route'],
        penalty=s['score_penalty'],
        infractions={k: v for k, v in rec['infractions'].items() if v},
        steps=0,
        sim_s=0.0,
        wall_s=0.0,
        dir=osp.relpath(ep_dir, out_dir),
        video=None,
    )
    row.update(fields)
    row['record'] = rec
    return row


def run_one(env, driver, ctx: dict, i: int, s: int, out_dir: str, on_step=None) -> Tuple[dict, dict]:
    """Episode ``i`` (seed ``s``) with its outputs (agent logs, ``record.json``, ``bev.png``, video).

    Args:
        on_step (callable, optional): called with the number of ticks done after each tick (watchdog progress).

    Returns:
        tuple: the ``results.json`` entry (with ``record``) and the episode's per-tick ``metric_info``.
    """
    video, rig, dt = ctx['video'], ctx['rig'], ctx['dt']
    ep_dir = episode_dir(out_dir, i, s)
    frames = []

    def on_tick(tick):
        if on_step is not None:
            on_step(tick['step'] + 1)
        if not video or tick['step'] % 2:
            return
        if rig:  # the six views as one mosaic frame
            views = {n: tick['input_data'][n][1][:, :, 2::-1] for n in rig if n in tick['input_data']}
            if views:
                frames.append(mosaic(views))
        elif 'CAM_FRONT' in tick['input_data']:
            frames.append(np.ascontiguousarray(tick['input_data']['CAM_FRONT'][1][:, :, 2::-1]))

    kind = ctx['kind']
    res = run_episode(
        env,
        driver,
        ctx['agent_cfg'],
        seed=s % int(ctx['env_cfg']['num_scenarios']) if kind == 'scenario' else s,
        episode_id=str(i),
        save_dir=ep_dir,
        episode_cfg=ctx['episode_cfg'],
        on_tick=on_tick,
    )
    plot_episode_bev(res, osp.join(ep_dir, 'bev.png'))
    video_path = None
    if frames:
        video_path = save_video(frames, osp.join(ep_dir, 'camera'), fps=0.5 / dt, fmt=ctx['video_format'])
    row = result_row(
        i,
        s,
        res['record'],
        out_dir,
        ep_dir,
        failure=res['failure'],
        steps=res['steps'],
        sim_s=res['sim_s'],
        wall_s=res['wall_s'],
        video=None if video_path is None else osp.relpath(video_path, out_dir),
    )
    return row, res['metric_info']
