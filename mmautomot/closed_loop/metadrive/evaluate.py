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

import os
import os.path as osp
import time
from typing import Optional

import numpy as np

from ..recorder import write_json
from .runner import (  # noqa: F401 - build_driver / plot_episode_bev / prepare are this module's API too
    DEFAULT_TIMEOUT_S,
    TIMEOUT_STATUS,
    build_driver,
    build_env,
    plot_episode_bev,
    prepare,
    run_one,
)
from .scoring import summarize


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
