# Copyright (c) mmautomot contributors. All rights reserved.
"""nuScenes open-loop planning L2 / collision rate under several protocols in one pass.

Entry point: :func:`evaluate_planning` on a list of per-sample records (see :data:`SAMPLE_KEYS`), used
by :class:`mmautomot.evaluation.PlanningMetric` and ``tools/analysis_tools/eval_planning.py``.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from .bev_collision import FILLPOLY_RULE, AgentTable, footprint_collisions
from .planning_protocols import BEVCollisionConfig, PlanningProtocol, build_protocol
from mmautomot.utils.misc import to_numpy

#: per-sample record keys (values numpy arrays or torch tensors) and their shapes.
SAMPLE_KEYS = {
    'pred_ego_fut_trajs': ('T', 2),
    'gt_ego_fut_trajs': ('T', 2),
    'gt_ego_fut_masks': ('T', ),
    'gt_agent_boxes': ('N', 7),
    'gt_agent_labels': ('N', ),
    'gt_agent_fut_trajs': ('N', 'T', 2),
    'gt_agent_fut_yaws': ('N', 'T'),
    'gt_agent_fut_masks': ('N', 'T'),
}


def check_planning_sample(sample: dict, name: str, num_steps: Optional[int] = None) -> dict:
    """Convert one record to numpy and validate the shapes of :data:`SAMPLE_KEYS`.

    Args:
        sample (dict): the record; values may be torch tensors or numpy arrays.
        name (str): how to name the sample in errors (e.g. its token).
        num_steps (int, optional): the expected T; taken from ``gt_ego_fut_trajs`` if None.

    Returns:
        dict: the same keys as numpy arrays (float64 / bool / int64). Missing agent keys mean no agents.
    """
    out = {}
    missing = [k for k in ('pred_ego_fut_trajs', 'gt_ego_fut_trajs', 'gt_ego_fut_masks')
               if sample.get(k) is None]
    if missing:
        raise KeyError(f'planning sample {name}: missing {missing}')
    T = to_numpy(sample['gt_ego_fut_trajs']).shape[0] if num_steps is None else num_steps
    labels = sample.get('gt_agent_labels')
    N = 0 if labels is None else int(to_numpy(labels).size)
    dims = {'T': T, 'N': N}
    for key, shape in SAMPLE_KEYS.items():
        expected = tuple(dims[d] if isinstance(d, str) else d for d in shape)
        value = sample.get(key)
        if value is None and key.startswith('gt_agent') and N == 0:
            value = np.zeros(expected)
        elif value is None:
            raise KeyError(f'planning sample {name}: missing {key!r}')
        arr = to_numpy(value)
        if arr.size == 0 and N == 0 and 'N' in shape:
            arr = arr.reshape(expected)
        if arr.shape != expected:
            raise ValueError(f'planning sample {name}: {key!r} must have shape {shape} = {expected}, '
                             f'got {arr.shape}')
        if key.endswith('masks'):
            arr = arr.astype(bool)
        elif key == 'gt_agent_labels':
            arr = arr.astype(np.int64)
        else:
            arr = arr.astype(np.float64)
        out[key] = arr
    # non-finite values are allowed only where the step is masked out (they are zeroed there)
    checks = (('pred_ego_fut_trajs', None), ('gt_ego_fut_trajs', 'gt_ego_fut_masks'),
              ('gt_agent_fut_trajs', 'gt_agent_fut_masks'), ('gt_agent_fut_yaws', 'gt_agent_fut_masks'))
    for key, mask_key in checks:
        bad = ~np.isfinite(out[key])
        if key.endswith('trajs'):
            bad = bad.any(-1)
        valid = np.ones_like(bad) if mask_key is None else out[mask_key]
        if (bad & valid).any():
            raise ValueError(f'planning sample {name}: {key!r} has non-finite values at valid steps')
        out[key] = np.nan_to_num(out[key], nan=0.0, posinf=0.0, neginf=0.0)
    return out


def stack_planning_samples(samples: Sequence[dict], names: Optional[Sequence[str]] = None):
    """Validate records and stack them into arrays.

    Returns:
        tuple: ``(pred (S, T, 2), gt (S, T, 2), gt_mask (S, T) bool, agents AgentTable)``.
    """
    if len(samples) == 0:
        raise ValueError('no planning samples to evaluate')
    names = names if names is not None else [str(s.get('token', i)) for i, s in enumerate(samples)]
    checked, T = [], None
    for sample, name in zip(samples, names):
        rec = check_planning_sample(sample, name, T)
        T = rec['gt_ego_fut_trajs'].shape[0]
        checked.append(rec)
    counts = np.array([r['gt_agent_labels'].shape[0] for r in checked], dtype=np.int64)

    def cat(key, shape):
        parts = [r[key] for r in checked]
        return np.concatenate(parts, axis=0) if counts.sum() else np.zeros(shape)

    boxes = cat('gt_agent_boxes', (0, 7))
    agents = AgentTable(
        sample_idx=np.repeat(np.arange(len(checked)), counts),
        fut_xy=cat('gt_agent_fut_trajs', (0, T, 2)),
        fut_yaw=cat('gt_agent_fut_yaws', (0, T)),
        fut_mask=cat('gt_agent_fut_masks', (0, T)).astype(bool),
        length=boxes[:, 3],
        width=boxes[:, 4],
        label=cat('gt_agent_labels', (0, )).astype(np.int64))
    pred = np.stack([r['pred_ego_fut_trajs'] for r in checked])
    gt = np.stack([r['gt_ego_fut_trajs'] for r in checked])
    mask = np.stack([r['gt_ego_fut_masks'] for r in checked])
    return pred, gt, mask, agents


class PlanningEvalResult(NamedTuple):
    """Output of :func:`evaluate_planning`.

    Attributes:
        metrics (dict): flat ``'<protocol>/L2_1s'`` ... ``'<protocol>/CR_avg'`` (L2 in metres,
            CR in percent).
        num_samples (dict): protocol name -> number of samples in the denominator.
        num_total (int): number of samples given.
        protocols (list[PlanningProtocol]): the protocols evaluated.
        horizons (tuple[float]): the horizons in seconds.
    """
    metrics: Dict[str, float]
    num_samples: Dict[str, int]
    num_total: int
    protocols: List[PlanningProtocol]
    horizons: tuple


def _aggregate(per_step: np.ndarray, steps: List[int], rule: str) -> List[float]:
    """(S, T) per-step values -> one value per horizon step (mean over samples)."""
    if per_step.shape[0] == 0:
        return [float('nan')] * len(steps)
    if rule == 'mean_up_to':
        return [float(per_step[:, :k].mean()) for k in steps]
    return [float(per_step[:, k - 1].mean()) for k in steps]


def evaluate_planning(samples: Sequence[dict],
                      protocols: Sequence[Union[str, dict, PlanningProtocol]] = ('stp3', 'uniad'),
                      horizons: Sequence[float] = (1.0, 2.0, 3.0),
                      plan_dt: float = 0.5,
                      collision_cfg: Optional[BEVCollisionConfig] = None,
                      names: Optional[Sequence[str]] = None) -> PlanningEvalResult:
    """L2 and collision rate at each horizon, and their averages, for each protocol.

    Per step ``t`` of sample ``s``: ``L2[s, t] = ||pred - gt||`` (metres) and
    ``CR[s, t] = collide(pred) and not collide(gt)`` (GT-collision exclusion, see
    :class:`BEVCollisionConfig`). A protocol then keeps samples (``invalid_policy``), masks L2 at
    invalid steps (``'mask'``), reduces the steps to each horizon (``horizon_rule``) and averages over
    samples; ``*_avg`` is the mean of the horizon values. Collision rates are in percent.

    Args:
        samples (Sequence[dict]): records with the keys of :data:`SAMPLE_KEYS` (ego frame).
        protocols (Sequence): names (``'stp3'``, ``'uniad'``), dicts or :class:`PlanningProtocol`.
        horizons (Sequence[float]): seconds. Defaults to (1, 2, 3).
        plan_dt (float): seconds between trajectory steps. Defaults to 0.5.
        collision_cfg (BEVCollisionConfig, optional): grid / footprint settings (defaults).
        names (Sequence[str], optional): sample names for error messages (tokens).

    Returns:
        PlanningEvalResult: metrics and the sample counts.
    """
    cfg = collision_cfg or BEVCollisionConfig()
    protos = [build_protocol(p) for p in protocols]
    if len({p.name for p in protos}) != len(protos):
        raise ValueError(f'protocol names must be unique, got {[p.name for p in protos]}')
    pred, gt, mask, agents = stack_planning_samples(samples, names)
    S, T, _ = gt.shape
    steps = [int(round(h / plan_dt)) for h in horizons]
    if any(k < 1 or k > T for k in steps):
        raise ValueError(f'horizons {tuple(horizons)} s at plan_dt={plan_dt} s need steps {steps}, '
                         f'but the trajectories have {T} steps')
    l2 = np.linalg.norm(pred - gt, axis=-1)  # (S, T)
    trajs = np.stack([pred, gt], axis=1)  # (S, 2, T, 2)
    metrics, counts = {}, {}
    for proto in protos:
        occupied = ~mask if proto.past_scene_end_occupied else None
        coll = footprint_collisions(trajs, agents, proto.occupancy_label_ids, cfg, occupied)
        cr = coll[:, 0] & ~coll[:, 1] if cfg.exclude_gt_collisions else coll[:, 0]
        l2_p = l2
        if proto.invalid_policy == 'drop':
            keep = mask.all(axis=1)
            l2_p, cr = l2_p[keep], cr[keep]
        else:
            l2_p = l2_p * mask
        counts[proto.name] = int(l2_p.shape[0])
        l2_h = _aggregate(l2_p, steps, proto.horizon_rule)
        cr_h = [100.0 * v for v in _aggregate(cr.astype(np.float64), steps, proto.horizon_rule)]
        for label, values in (('L2', l2_h), ('CR', cr_h)):
            for h, v in zip(horizons, values):
                metrics[f'{proto.name}/{label}_{h:g}s'] = v
            metrics[f'{proto.name}/{label}_avg'] = float(np.mean(values))
    return PlanningEvalResult(metrics, counts, S, protos, tuple(horizons))


def format_planning_tables(result: PlanningEvalResult,
                           collision_cfg: Optional[BEVCollisionConfig] = None) -> str:
    """One table per protocol; the title names the protocol, its settings and its sample count."""
    from terminaltables import AsciiTable
    cfg = collision_cfg or BEVCollisionConfig()
    header = ['metric'] + [f'{h:g}s' for h in result.horizons] + ['avg']
    blocks = [
        f'nuScenes planning: {cfg.grid_size}x{cfg.grid_size} BEV grid at {cfg.resolution} m, ego '
        f'{cfg.ego_length} x {cfg.ego_width} m centred {cfg.ego_forward_offset} m ahead (not rotated), '
        f'GT-collision steps excluded={cfg.exclude_gt_collisions}, agents by {FILLPOLY_RULE}'
    ]
    for proto in result.protocols:
        rows = [header]
        for label, unit in (('L2', 'm'), ('CR', '%')):
            keys = [f'{h:g}s' for h in result.horizons] + ['avg']
            rows.append([f'{label} ({unit})'] +
                        [f"{result.metrics[f'{proto.name}/{label}_{k}']:.4f}" for k in keys])
        title = (f'{proto.describe()} | samples {result.num_samples[proto.name]}'
                 f'/{result.num_total}')
        blocks.append(title + '\n' + AsciiTable(rows).table)
    return '\n'.join(blocks)
