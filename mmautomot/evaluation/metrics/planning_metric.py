# Copyright (c) mmautomot contributors. All rights reserved.
"""nuScenes open-loop planning metric (L2 / collision rate) under the ST-P3 and UniAD protocols."""

import os.path as osp
from typing import Any, Optional, Sequence, Union

import mmengine
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmautomot.registry import METRICS

from ..functional import (
    OPTIONAL_KEYS,
    SAMPLE_KEYS,
    BEVCollisionConfig,
    PlanningProtocol,
    build_protocol,
    evaluate_planning,
    format_planning_tables,
    to_numpy,
)


def _get(sample: Any, key: str):
    """A field or metainfo entry from a data-sample dict or a ``BaseDataElement``."""
    if isinstance(sample, dict):
        if key in sample:
            return sample[key]
        return sample.get('metainfo', {}).get(key)
    return sample.get(key, None)


@METRICS.register_module()
class PlanningMetric(BaseMetric):
    """nuScenes open-loop planning L2 and collision rate under several protocols in one run.

    Evaluates the ST-P3 / VAD protocol (Hu et al., "ST-P3", ECCV 2022; Jiang et al., "VAD", ICCV 2023)
    and the UniAD protocol (Hu et al., "Planning-oriented Autonomous Driving", CVPR 2023) on the same
    predictions. What differs between them (see
    :class:`mmautomot.evaluation.functional.PlanningProtocol`):

    ==================  =================================  ==========================================
    setting             ``stp3``                           ``uniad``
    ==================  =================================  ==========================================
    occupancy classes   vehicles + pedestrian              vehicles only
    value at h seconds  mean over steps 1 .. h/dt          value at step h/dt
    invalid samples     dropped unless all T steps valid   invalid steps masked, all samples counted
    past scene end      (samples dropped)                  fully occupied -> never a collision
    grid image layout   VAD's (ours rotated 180 degrees)   UniAD's (ours mirrored sideways)
    ==================  =================================  ==========================================

    "Vehicles" are the 10-class labels ``car, truck, construction_vehicle, bus, trailer, motorcycle,
    bicycle``; barrier and traffic cone are never occupancy. Shared settings
    (:class:`~mmautomot.evaluation.functional.BEVCollisionConfig`): 200 x 200 BEV grid of 0.5 m centred
    on the trajectory reference point (``ego_reference``: by default the LIDAR_TOP origin, as the
    reference code; see ``docs/contracts.md``); ego footprint 4.084 m x 1.85 m centred 0.5 m ahead (+x)
    of that point and never rotated; footprint cell indices truncated toward zero then clamped to the
    border, aligned with the boxes cell for cell as in each reference's own image; a step where the GT
    footprint collides counts as no collision but stays in the denominator. Agent boxes (rotated by
    their yaw) are filled with :func:`cv2.fillPoly`, following the OpenCV >= 4.11 rule with the
    installed opencv-python 4.11 (see ``FILLPOLY_RULE``; OpenCV <= 4.7 and 4.8-4.10 fill some edge
    cells differently). ``*_avg`` is the mean of the 1 / 2 / 3 s values; collision rates are percent.

    Output keys: ``'<protocol>/L2_1s'``, ``L2_2s``, ``L2_3s``, ``L2_avg`` (metres), ``CR_1s``,
    ``CR_2s``, ``CR_3s``, ``CR_avg`` (percent), for each protocol, e.g. ``'stp3/L2_avg'``.

    Each data sample must hold ``pred_ego_fut_trajs`` (T, 2), ``gt_ego_fut_trajs`` (T, 2),
    ``gt_ego_fut_masks`` (T,), ``gt_agent_boxes`` (N, 7: x, y, z_center, l, w, h, yaw),
    ``gt_agent_labels`` (N,), ``gt_agent_fut_trajs`` (N, T, 2), ``gt_agent_fut_yaws`` (N, T, absolute
    yaw) and ``gt_agent_fut_masks`` (N, T), all in the current ego frame (x forward, y left, metres,
    radians); tensors or arrays. The metainfo ``token`` names the sample in errors and dumps. The
    default ``ego_reference='lidar'`` also needs ``lidar2ego`` (4, 4) (metainfo) and
    ``gt_ego_fut_lidar_trajs`` (T, 2); ``gt_occupancy`` (T, G, G) (or a dict protocol name -> grid)
    replaces the agents' rasterisation.

    Args:
        protocols (Sequence[str | dict]): protocols to evaluate: ``'stp3'``, ``'uniad'`` or dicts
            overriding a named one, e.g. ``dict(base='uniad', name='uniad_ped',
            occupancy_classes=(..., 'pedestrian'))``. Defaults to ``('stp3', 'uniad')``.
        horizons (Sequence[float]): horizons in seconds. Defaults to (1, 2, 3).
        plan_dt (float): seconds between trajectory steps. Defaults to 0.5.
        collision_cfg (dict, optional): overrides of ``BEVCollisionConfig`` (``grid_size``,
            ``resolution``, ``ego_length``, ``ego_width``, ``ego_forward_offset``,
            ``exclude_gt_collisions``, ``ego_reference``). Defaults to None (the reference settings).
        dump_results (str, optional): write the predictions to this pkl in the results format of
            ``docs/planning_results_format.md`` (a list of ``dict(token, pred_ego_fut_trajs)``), so
            ``tools/analysis_tools/eval_planning.py`` can re-score them. Defaults to None.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): metric key prefix (``'<prefix>/stp3/L2_1s'``). Defaults to None
            (no prefix).
    """

    default_prefix: Optional[str] = ''  # keys stay flat: 'stp3/L2_1s'

    def __init__(
        self,
        protocols: Sequence[Union[str, dict, PlanningProtocol]] = ('stp3', 'uniad'),
        horizons: Sequence[float] = (1.0, 2.0, 3.0),
        plan_dt: float = 0.5,
        collision_cfg: Optional[dict] = None,
        dump_results: Optional[str] = None,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.protocols = [build_protocol(p) for p in protocols]
        if not self.protocols:
            raise ValueError('PlanningMetric needs at least one protocol')
        self.horizons = tuple(float(h) for h in horizons)
        self.plan_dt = float(plan_dt)
        self.collision_cfg = BEVCollisionConfig(**(collision_cfg or {}))
        if dump_results is not None and not str(dump_results).endswith(('.pkl', '.pickle')):
            raise ValueError(f'dump_results must be a .pkl path, got {dump_results!r}')
        self.dump_results = dump_results

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the planning fields of each sample as compact numpy arrays."""
        for i, sample in enumerate(data_samples):
            token = _get(sample, 'token')
            record = {'token': str(token) if token is not None else f'#{len(self.results) + i}'}
            for key in list(SAMPLE_KEYS) + list(OPTIONAL_KEYS):
                value = _get(sample, key)
                if value is None and (key.startswith('gt_agent') or key in OPTIONAL_KEYS):
                    continue
                if isinstance(value, dict):  # per-protocol occupancy grids
                    record[key] = {k: to_numpy(v) for k, v in value.items()}
                    continue
                if value is None:
                    raise KeyError(f'PlanningMetric: data sample {record["token"]} has no {key!r}')
                arr = to_numpy(value)
                record[key] = arr.astype(np.float32) if arr.dtype.kind == 'f' else arr
            self.results.append(record)

    def compute_metrics(self, results: list) -> dict:
        """Score all collected samples; print one table per protocol; dump if asked."""
        if self.dump_results is not None:
            self.dump(results, self.dump_results)
        res = evaluate_planning(
            results,
            protocols=self.protocols,
            horizons=self.horizons,
            plan_dt=self.plan_dt,
            collision_cfg=self.collision_cfg,
            names=[r['token'] for r in results],
        )
        print_log('\n' + format_planning_tables(res, self.collision_cfg), logger='current')
        return res.metrics

    @staticmethod
    def dump(results: list, path: str) -> None:
        """Write ``[dict(token=str, pred_ego_fut_trajs=(T, 2) float32), ...]`` to ``path``."""
        out = [
            dict(token=r['token'], pred_ego_fut_trajs=np.asarray(r['pred_ego_fut_trajs'], dtype=np.float32))
            for r in results
        ]
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(path)))
        mmengine.dump(out, path)
        print_log(f'PlanningMetric: wrote {len(out)} predictions to {path}', logger='current')
