# Copyright (c) mmautomot contributors. All rights reserved.
"""Per-episode Bench2Drive-style records of MetaDrive episodes and their summary over episodes.

Each episode becomes a record in the CARLA leaderboard's format (``status``, ``infractions``,
``scores.score_route`` / ``score_penalty`` / ``score_composed``), so the driving score, success rate and
comfort come from the same code as for Bench2Drive (:func:`mmautomot.closed_loop.metrics
.driving_score_success_rate`, :func:`~mmautomot.closed_loop.comfort.comfort_official`,
:func:`~mmautomot.closed_loop.comfort.comfort_corrected`) with ``expected_routes`` = the number of episodes.

Composed score (leaderboard 2.0, Bench2Drive): ``route completion (%) x prod(penalty ** count) x
(1 - fraction of the route driven off the road)``. MetaDrive's procedural maps have no traffic lights or
stop signs, so those infractions never occur there (they stay in :data:`PENALTIES` for maps that have them).
"""

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..comfort import comfort_corrected, comfort_official
from ..metrics import driving_score_success_rate

#: the leaderboard's multiplicative penalty per infraction (Bench2Drive uses leaderboard 2.0's).
PENALTIES = dict(
    collisions_pedestrian=0.50,
    collisions_vehicle=0.60,
    collisions_layout=0.65,
    red_light=0.70,
    stop_infraction=0.80,
    scenario_timeouts=0.70,
    yield_emergency_vehicle_infractions=0.70,
)
#: MetaDrive info flag -> leaderboard infraction (``crash_object``: cones, barriers, warning triangles;
#: ``crash_building`` / ``crash_sidewalk``: static layout, as CARLA's ``collisions_layout``).
CRASH_TYPES = dict(
    crash_human='collisions_pedestrian',
    crash_vehicle='collisions_vehicle',
    crash_object='collisions_layout',
    crash_building='collisions_layout',
    crash_sidewalk='collisions_layout',
)
INFRACTION_KEYS = tuple(PENALTIES) + (
    'outside_route_lanes',
    'route_dev',
    'route_timeout',
    'vehicle_blocked',
    'min_speed_infractions',
)


def empty_infractions() -> Dict[str, list]:
    return {k: [] for k in INFRACTION_KEYS}


def make_record(
    episode_id: str,
    route_completion: float,
    infractions: Dict[str, list],
    status: str,
    offroad_fraction: float = 0.0,
    meta: Optional[dict] = None,
) -> dict:
    """A leaderboard-format record of one episode.

    Args:
        route_completion (float): fraction in [0, 1].
        infractions (dict): infraction name -> list of messages (one per event).
        status (str): ``'Completed'`` or ``'Failed - <reason>'``.
        offroad_fraction (float): fraction in [0, 1] of the driven route off the road.
    """
    rc = 100.0 * float(np.clip(route_completion, 0.0, 1.0))
    penalty = 1.0
    for name, factor in PENALTIES.items():
        penalty *= factor ** len(infractions.get(name, []))
    off = float(np.clip(offroad_fraction, 0.0, 1.0))
    if off > 0:
        infractions.setdefault('outside_route_lanes', []).append(
            f'Agent went outside its route lanes for about {100 * off:.1f}% of the completed route'
        )
    return dict(
        route_id=str(episode_id),
        index=0,
        status=status,
        infractions=infractions,
        scores=dict(score_route=rc, score_penalty=penalty, score_composed=rc * penalty * (1.0 - off)),
        meta=dict(meta or {}),
    )


def _mean_std(values: Sequence[float]) -> dict:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return dict(mean=None, std=None)
    return dict(mean=float(np.mean(vals)), std=float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)


def summarize(episodes: List[dict], metric_infos: Optional[List[dict]] = None) -> dict:
    """Summary of a MetaDrive evaluation (every value as mean / sample std over episodes).

    Args:
        episodes (list[dict]): per-episode results, each with ``record`` (:func:`make_record`) and
            ``seed``.
        metric_infos (list[dict], optional): per-episode metric_info logs for comfort.

    Returns:
        dict: ``driving_score``, ``route_completion``, ``success_rate``, ``penalty`` (mean / std over
        episodes; success 0/100 per episode), ``collisions`` (mean count per episode by type),
        ``failures`` (episodes that ended in a fault), ``comfort`` / ``comfort_corrected`` (the
        Bench2Drive comfort code on the per-tick logs), and ``bench2drive`` (DS / SR computed by
        :func:`driving_score_success_rate` over the records, equal to the means).
    """
    records = {str(i): ep['record'] for i, ep in enumerate(episodes)}
    n = len(records)
    ds = [r['scores']['score_composed'] for r in records.values()]
    rc = [r['scores']['score_route'] for r in records.values()]
    from ..abilities import is_success

    sr = [100.0 * is_success(r) for r in records.values()]
    out = dict(
        num_episodes=n,
        driving_score=_mean_std(ds),
        route_completion=_mean_std(rc),
        success_rate=_mean_std(sr),
        penalty=_mean_std([r['scores']['score_penalty'] for r in records.values()]),
        collisions={
            k: float(np.mean([len(r['infractions'].get(k, [])) for r in records.values()]))
            for k in ('collisions_pedestrian', 'collisions_vehicle', 'collisions_layout')
        }
        if n
        else {},
        failures=[
            dict(episode=ep.get('episode'), seed=ep.get('seed'), reason=ep.get('failure'))
            for ep in episodes
            if ep.get('failure')
        ],
    )
    if n:
        out['bench2drive'] = driving_score_success_rate(records, expected_routes=n, warn=False)
    infos = [m for m in (metric_infos or []) if m]
    out['comfort'] = comfort_official(infos) if infos else None
    out['comfort_corrected'] = comfort_corrected(infos) if infos else None
    return out
