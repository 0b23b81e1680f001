# Copyright (c) mmautomot contributors. All rights reserved.
"""Score dumped planning predictions of any model against an mmautomot info pkl.

Results format (``docs/planning_results_format.md``): a pkl holding either

* a list of ``dict(token=str, pred_ego_fut_trajs=np.ndarray (T, 2))``, or
* a dict ``{token: np.ndarray (T, 2)}``,

with ``token`` the nuScenes sample token and the trajectory the predicted ego positions at
0.5, 1.0, ..., 3.0 s (T = 6) in the ego frame of that sample (x forward, y left, metres).
"""

import warnings
from typing import Dict, List, Sequence, Union

import mmengine
import numpy as np

from mmautomot.structures.info_format import check_info_metainfo
from mmautomot.utils.safe_pickle import load_pickle_safe

from .planning import PlanningEvalResult, evaluate_planning, to_numpy

#: planning layout the nuScenes protocols need (6 future steps at 0.5 s)
PROTOCOL_PLANNING = dict(fut_steps=6, plan_dt=0.5)


def _load(path: str):
    """A pkl with the restricted unpickler (no code runs), other formats with mmengine."""
    return load_pickle_safe(path) if path.endswith(('.pkl', '.pickle')) else mmengine.load(path)


#: info key -> planning record key
INFO_TO_RECORD = {
    'ego_fut_trajs': 'gt_ego_fut_trajs',
    'ego_fut_masks': 'gt_ego_fut_masks',
    'plan_agent_boxes': 'gt_agent_boxes',
    'plan_agent_labels': 'gt_agent_labels',
    'plan_agent_fut_trajs': 'gt_agent_fut_trajs',
    'plan_agent_fut_yaws': 'gt_agent_fut_yaws',
    'plan_agent_fut_masks': 'gt_agent_fut_masks',
    'ego_fut_lidar_trajs': 'gt_ego_fut_lidar_trajs',
}


def load_planning_predictions(results: Union[str, list, dict]) -> Dict[str, np.ndarray]:
    """Read a results pkl (or its loaded content) into ``{token: (T, 2) float64}``.

    Raises:
        ValueError: on an unknown layout, a missing key, a duplicated token or a bad shape; the
            message names the entry.
    """
    src = results if isinstance(results, str) else '<results>'
    data = _load(results) if isinstance(results, str) else results
    if isinstance(data, dict) and 'results' in data and not isinstance(data['results'], np.ndarray):
        data = data['results']
    preds = {}
    if isinstance(data, dict):
        items = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, (list, tuple)):
        items = []
        for i, entry in enumerate(data):
            if not isinstance(entry, dict) or 'token' not in entry or 'pred_ego_fut_trajs' not in entry:
                raise ValueError(
                    f'{src}: entry {i} must be dict(token=..., pred_ego_fut_trajs=...), '
                    f'got {type(entry).__name__} with keys '
                    f'{sorted(entry) if isinstance(entry, dict) else "-"}'
                )
            items.append((str(entry['token']), entry['pred_ego_fut_trajs']))
    else:
        raise ValueError(f'{src}: expected a list of dicts or a dict token -> array, got {type(data).__name__}')
    for token, traj in items:
        if token in preds:
            raise ValueError(f'{src}: token {token!r} appears more than once')
        arr = to_numpy(traj).astype(np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f'{src}: prediction for token {token!r} must be (T, 2), got {arr.shape}')
        preds[token] = arr
    return preds


def planning_gt_from_infos(ann: Union[str, dict, list]) -> List[dict]:
    """GT planning records (without predictions) from an info pkl, in ``data_list`` order.

    Besides :data:`INFO_TO_RECORD`, ``lidar_points.lidar2ego`` becomes the record's ``lidar2ego``.
    """
    src = ann if isinstance(ann, str) else '<ann>'
    data = _load(ann) if isinstance(ann, str) else ann
    if not isinstance(data, dict) or 'data_list' not in data or 'metainfo' not in data:
        raise ValueError(
            f'{src}: expected an info pkl dict(metainfo=..., data_list=[...]) written by '
            f'tools/create_data.py, got {type(data).__name__}'
            + (f' with keys {sorted(data)}' if isinstance(data, dict) else '')
        )
    check_info_metainfo(data['metainfo'], src, planning=PROTOCOL_PLANNING)
    infos = data['data_list']
    fut_steps = PROTOCOL_PLANNING['fut_steps']
    if not isinstance(infos, (list, tuple)):
        raise ValueError(f'{src}: expected dict(metainfo, data_list) or a list of infos')
    records = []
    for i, info in enumerate(infos):
        token = info.get('token')
        missing = [k for k in ('token', 'ego_fut_trajs', 'ego_fut_masks') if info.get(k) is None]
        if missing:
            raise KeyError(f'{src}: info {i} (token {token!r}) has no {missing}')
        shapes = (np.shape(info['ego_fut_trajs']), np.shape(info['ego_fut_masks']))
        if shapes != ((fut_steps, 2), (fut_steps,)):
            raise ValueError(
                f'{src}: info {i} (token {token!r}) has ego_fut_trajs {shapes[0]} / ego_fut_masks '
                f'{shapes[1]}, expected ({fut_steps}, 2) / ({fut_steps},) (planning layout)'
            )
        rec = {'token': str(token)}
        for key, rec_key in INFO_TO_RECORD.items():
            if info.get(key) is not None:
                rec[rec_key] = info[key]
        lidar2ego = (info.get('lidar_points') or {}).get('lidar2ego')
        if lidar2ego is not None:
            rec['lidar2ego'] = lidar2ego
        records.append(rec)
    return records


def attach_predictions(records: Sequence[dict], preds: Dict[str, np.ndarray], max_listed: int = 5) -> List[dict]:
    """Add ``pred_ego_fut_trajs`` to each GT record; missing tokens raise, extra ones warn."""
    tokens = [r['token'] for r in records]
    missing = [t for t in tokens if t not in preds]
    if missing:
        raise ValueError(
            f'{len(missing)} of {len(tokens)} annotated samples have no prediction, e.g. {missing[:max_listed]}'
        )
    extra = sorted(set(preds) - set(tokens))
    if extra:
        warnings.warn(
            f'{len(extra)} predicted tokens are not in the annotations and are ignored, e.g. {extra[:max_listed]}'
        )
    return [dict(r, pred_ego_fut_trajs=preds[r['token']]) for r in records]


def evaluate_planning_files(
    results: Union[str, list, dict], ann: Union[str, dict, list], **kwargs
) -> PlanningEvalResult:
    """Score a results pkl against an info pkl; ``kwargs`` go to :func:`evaluate_planning`."""
    records = attach_predictions(planning_gt_from_infos(ann), load_planning_predictions(results))
    return evaluate_planning(records, names=[r['token'] for r in records], **kwargs)
