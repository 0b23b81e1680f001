# Copyright (c) mmautomot contributors. All rights reserved.
"""A MetaDrive closed-loop evaluation: N episodes (seeds S, S+1, ...), per-episode outputs, summary.

Config (an mmengine config, see ``configs/metadrive/``)::

    agent = dict(...)            # the Bench2Drive agent config (configs/_base_/closed_loop/metadrive_agent.py)
    driver = dict(type=...)      # see build_driver
    env = dict(kind='pg', map='SCS', traffic_density=0.1, num_scenarios=100, start_seed=0, camera=None)
    # or nuScenes-format scenes replayed in ScenarioEnv (see .scenario.scenario_env_config):
    env = dict(kind='scenario', info_file='data/nuscenes-synthetic/nuscenes_infos_val.pkl',
               map_source='synthetic_grid', lights=dict(cycle=(10.0, 2.0)), reactive_traffic=False)
    episode = dict(max_steps=600, blocked_s=20.0, offroad_s=3.0, timeout_s=600.0)

``episode.timeout_s`` (s, default 600; None = off) is the per-episode wall-clock watchdog: episodes run in a
worker process (:mod:`.watchdog`), one past the limit is killed and recorded as ``'Failed - Timeout'``
(``failure='timeout after N s at tick T'``, driving score 0) and the evaluation goes on.

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
from typing import Optional, Tuple

import numpy as np

from ..recorder import write_json
from .episode import closed_loop_env_overrides, run_episode
from .scoring import summarize
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

    With ``episode.timeout_s`` (default :data:`DEFAULT_TIMEOUT_S`) the episodes run in a worker process
    under a wall-clock watchdog (:class:`~.watchdog.EpisodeWorker`): an episode past the limit is killed
    and recorded as a failure (driving score 0); ``episode.timeout_s=None``, or a passed ``env`` /
    ``driver`` (which cannot move to another process), runs them in this process.

    Args:
        cfg (dict): the evaluation config (see the module docstring).
        env / driver: pass built ones to reuse them (tests); built from ``cfg`` otherwise.

    Returns:
        dict: the content of ``results.json``.
    """
    ctx = prepare(cfg, episodes, seed, out_dir)
    os.makedirs(out_dir, exist_ok=True)
    results, infos = [], []
    seeds = list(range(int(seed), int(seed) + int(episodes)))
    watchdog = ctx['timeout_s'] is not None and env is None and driver is None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(seeds), desc='MetaDrive episodes', unit='ep')
    t0 = time.perf_counter()
    own_driver, own_env, worker = driver is None, env is None, None
    try:
        if watchdog:
            from .watchdog import EpisodeWorker

            worker = EpisodeWorker(cfg, ctx, out_dir, checkpoint, ctx['timeout_s'])
        else:
            if own_driver:  # before the env: importing torch / triton after EGL (llvmpipe) is up can crash
                driver = build_driver(cfg, dt=ctx['dt'], checkpoint=checkpoint)
            if own_env:
                env = build_env(ctx)
        for i, s in enumerate(seeds):
            if worker is not None:
                row, info = worker.run(i, s)
            else:
                row, info = run_one(env, driver, ctx, i, s, out_dir)
            results.append(row)
            infos.append(info)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(ds=f'{np.mean([r["driving_score"] for r in results]):.1f}')
    finally:
        if bar is not None:
            bar.close()
        if worker is not None:
            worker.close()
        if own_env and env is not None:
            env.close()
        if own_driver and hasattr(driver, 'close'):
            driver.close()  # e.g. a Driver's background UE refresh worker
    summary = summarize(results, infos)
    summary['wall_s'] = time.perf_counter() - t0
    summary['watchdog'] = dict(
        timeout_s=ctx['timeout_s'] if watchdog else None,
        timeouts=sum(1 for r in results if r['status'] == TIMEOUT_STATUS),
        note='an episode past timeout_s is killed and counted with driving score 0 and route completion 0',
        workers=[] if worker is None else worker.starts,  # per worker process: startup_s, peak rss_mb
    )
    out = dict(
        summary=summary,
        episodes=[{k: v for k, v in r.items() if k != 'record'} for r in results],
        seeds=seeds,
        config=cfg,
    )
    write_json(osp.join(out_dir, 'results.json'), out)
    return out
