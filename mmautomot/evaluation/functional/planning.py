# Copyright (c) mmautomot contributors. All rights reserved.
"""nuScenes open-loop planning L2 / collision rate under several protocols in one pass.

Entry point: :func:`evaluate_planning` on a list of per-sample records (see :data:`SAMPLE_KEYS`), used
by :class:`mmautomot.evaluation.PlanningMetric` and ``tools/analysis_tools/eval_planning.py``.
"""

from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from mmautomot.utils.misc import to_numpy

from .bev_collision import FILLPOLY_RULE, AgentTable, footprint_collisions, grid_collisions
from .planning_protocols import BEVCollisionConfig, PlanningProtocol, build_protocol
from .planning_reference import reference_agents, reference_trajectories, reference_transform, to_reference

#: per-sample record keys (values numpy arrays or torch tensors) and their shapes.
SAMPLE_KEYS = {
    'pred_ego_fut_trajs': ('T', 2),
    'gt_ego_fut_trajs': ('T', 2),
    'gt_ego_fut_masks': ('T',),
    'gt_agent_boxes': ('N', 7),
    'gt_agent_labels': ('N',),
    'gt_agent_fut_trajs': ('N', 'T', 2),
    'gt_agent_fut_yaws': ('N', 'T'),
    'gt_agent_fut_masks': ('N', 'T'),
}
#: optional record keys: the LiDAR reference point (``BEVCollisionConfig.ego_reference``) and
#: occupancy grids given directly (``(T, G, G)`` in our layout, or a dict protocol name -> grid;
#: they replace the agents' rasterisation, see :func:`.bev_collision.grid_collisions`).
OPTIONAL_KEYS = {
    'lidar2ego': (4, 4),
    'gt_ego_fut_lidar_trajs': ('T', 2),
    'gt_occupancy': ('T', 'G', 'G'),
}
#: what each ``ego_reference`` needs in every record
REFERENCE_KEYS = {'lidar': ('lidar2ego', 'gt_ego_fut_lidar_trajs'), 'lidar_fixed': ('lidar2ego',), 'ego': ()}


def check_planning_sample(
    sample: dict, name: str, num_steps: Optional[int] = None, cfg: Optional[BEVCollisionConfig] = None
) -> dict:
    """Convert one record to numpy and validate the shapes of :data:`SAMPLE_KEYS`.

    Args:
        sample (dict): the record; values may be torch tensors or numpy arrays.
        name (str): how to name the sample in errors (e.g. its token).
        num_steps (int, optional): the expected T; taken from ``gt_ego_fut_trajs`` if None.
        cfg (BEVCollisionConfig, optional): checks the keys its ``ego_reference`` needs and the
            grid size of ``gt_occupancy``. Defaults to the default config.

    Returns:
        dict: the same keys as numpy arrays (float64 / bool / int64), plus those of
        :data:`OPTIONAL_KEYS` the record has. Missing agent keys mean no agents.
    """
    cfg = cfg or BEVCollisionConfig()
    out = {}
    missing = [k for k in ('pred_ego_fut_trajs', 'gt_ego_fut_trajs', 'gt_ego_fut_masks') if sample.get(k) is None]
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
            raise ValueError(f'planning sample {name}: {key!r} must have shape {shape} = {expected}, got {arr.shape}')
        if key.endswith('masks'):
            arr = arr.astype(bool)
        elif key == 'gt_agent_labels':
            arr = arr.astype(np.int64)
        else:
            arr = arr.astype(np.float64)
        out[key] = arr
    # non-finite values are allowed only where the step is masked out (they are zeroed there)
    checks = (
        ('pred_ego_fut_trajs', None),
        ('gt_ego_fut_trajs', 'gt_ego_fut_masks'),
        ('gt_agent_fut_trajs', 'gt_agent_fut_masks'),
        ('gt_agent_fut_yaws', 'gt_agent_fut_masks'),
    )
    for key, mask_key in checks:
        bad = ~np.isfinite(out[key])
        if not bad.any():
            continue
        if key.endswith('trajs'):
            bad = bad.any(-1)
        valid = np.ones_like(bad) if mask_key is None else out[mask_key]
        if (bad & valid).any():
            raise ValueError(f'planning sample {name}: {key!r} has non-finite values at valid steps')
        out[key] = np.nan_to_num(out[key], nan=0.0, posinf=0.0, neginf=0.0)
    need = [k for k in REFERENCE_KEYS[cfg.ego_reference] if sample.get(k) is None]
    if need:
        raise KeyError(
            f'planning sample {name}: ego_reference={cfg.ego_reference!r} (the LIDAR_TOP origin as '
            f'the published protocols) needs {need}: lidar2ego is the 4x4 LiDAR->ego transform of '
            f"the sample, gt_ego_fut_lidar_trajs the GT LiDAR origins (info 'ego_fut_lidar_trajs' "
            f'written by tools/create_data.py); or choose collision_cfg ego_reference '
            f"'lidar_fixed' (lidar2ego only) or 'ego' (rear axle)"
        )
    dims.update(G=cfg.grid_size)
    for key, shape in OPTIONAL_KEYS.items():
        value = sample.get(key)
        if value is None:
            continue
        expected = tuple(dims[d] if isinstance(d, str) else d for d in shape)
        if isinstance(value, dict) and key != 'gt_occupancy':
            raise TypeError(f'planning sample {name}: {key!r} must be an array, got a dict')
        grids = value if isinstance(value, dict) else {None: value}
        arrs = {}
        for proto, grid in grids.items():
            arr = to_numpy(grid)
            what = key if proto is None else f'{key}[{proto!r}]'
            if arr.shape != expected:
                raise ValueError(
                    f'planning sample {name}: {what!r} must have shape {shape} = {expected}, got {arr.shape}'
                )
            if key == 'gt_occupancy':
                arrs[proto] = arr.astype(bool)
                continue
            valid = out['gt_ego_fut_masks'] if key == 'gt_ego_fut_lidar_trajs' else True
            bad = ~np.isfinite(arr).reshape(arr.shape[0], -1).all(-1) & valid
            if bad.any():
                raise ValueError(f'planning sample {name}: {what!r} has non-finite values')
            arrs[proto] = arr.astype(np.float64)
            if key == 'gt_ego_fut_lidar_trajs':  # non-finite only at masked steps: zero them
                arrs[proto] = np.nan_to_num(arrs[proto], nan=0.0, posinf=0.0, neginf=0.0)
        out[key] = arrs if isinstance(value, dict) else arrs[None]
    return out


class PlanningArrays(NamedTuple):
    """Stacked planning records (ego frame), see :func:`stack_planning_samples`.

    Attributes:
        pred (np.ndarray): (S, T, 2). gt (np.ndarray): (S, T, 2). mask (np.ndarray): (S, T) bool.
        agents (AgentTable): all agents.
        lidar2ego (np.ndarray | None): (S, 4, 4) if every record has it.
        gt_lidar (np.ndarray | None): (S, T, 2) GT LiDAR origins if every record has them.
        occupancy (np.ndarray | dict | None): (S, T, G, G) bool (or protocol name -> that) if the
            records give occupancy grids.
    """

    pred: np.ndarray
    gt: np.ndarray
    mask: np.ndarray
    agents: AgentTable
    lidar2ego: Optional[np.ndarray] = None
    gt_lidar: Optional[np.ndarray] = None
    occupancy: Optional[Union[np.ndarray, dict]] = None


def _stack_optional(checked: list, names: Sequence[str], key: str):
    have = [key in r for r in checked]
    if not any(have):
        return None
    if not all(have):
        raise KeyError(f'planning sample {names[have.index(False)]}: no {key!r} while others have it')
    first = checked[0][key]
    if isinstance(first, dict):
        keys = set(first)
        for r, n in zip(checked, names):
            if not isinstance(r[key], dict) or set(r[key]) != keys:
                raise ValueError(f'planning sample {n}: {key!r} must be a dict with keys {sorted(keys)}')
        return {k: np.stack([r[key][k] for r in checked]) for k in first}
    return np.stack([r[key] for r in checked])


def stack_planning_samples(
    samples: Sequence[dict], names: Optional[Sequence[str]] = None, cfg: Optional[BEVCollisionConfig] = None
) -> PlanningArrays:
    """Validate records (:func:`check_planning_sample`) and stack them into arrays.

    Returns:
        PlanningArrays: ``(pred, gt, mask, agents, lidar2ego, gt_lidar, occupancy)``.
    """
    if len(samples) == 0:
        raise ValueError('no planning samples to evaluate')
    names = names if names is not None else [str(s.get('token', i)) for i, s in enumerate(samples)]
    checked, T = [], None
    for sample, name in zip(samples, names):
        rec = check_planning_sample(sample, name, T, cfg)
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
        label=cat('gt_agent_labels', (0,)).astype(np.int64),
    )
    pred = np.stack([r['pred_ego_fut_trajs'] for r in checked])
    gt = np.stack([r['gt_ego_fut_trajs'] for r in checked])
    mask = np.stack([r['gt_ego_fut_masks'] for r in checked])
    return PlanningArrays(
        pred,
        gt,
        mask,
        agents,
        _stack_optional(checked, names, 'lidar2ego'),
        _stack_optional(checked, names, 'gt_ego_fut_lidar_trajs'),
        _stack_optional(checked, names, 'gt_occupancy'),
    )


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


def evaluate_planning(
    samples: Sequence[dict],
    protocols: Sequence[Union[str, dict, PlanningProtocol]] = ('stp3', 'uniad'),
    horizons: Sequence[float] = (1.0, 2.0, 3.0),
    plan_dt: float = 0.5,
    collision_cfg: Optional[BEVCollisionConfig] = None,
    names: Optional[Sequence[str]] = None,
    pred_reference: str = 'ego',
) -> PlanningEvalResult:
    """L2 and collision rate at each horizon, and their averages, for each protocol.

    Per step ``t`` of sample ``s``: ``L2[s, t] = ||pred - gt||`` (metres) and
    ``CR[s, t] = collide(pred) and not collide(gt)`` (GT-collision exclusion, see
    :class:`BEVCollisionConfig`), checked at the reference point ``collision_cfg.ego_reference``
    (:mod:`.planning_reference`) in each protocol's grid layout (:mod:`.bev_collision`), against the
    rasterised agents or, if the records carry ``gt_occupancy``, against those grids. A protocol
    then keeps samples (``invalid_policy``), masks L2 at invalid steps (``'mask'``), reduces the
    steps to each horizon (``horizon_rule``) and averages over
    samples; ``*_avg`` is the mean of the horizon values. Collision rates are in percent.

    Args:
        samples (Sequence[dict]): records with the keys of :data:`SAMPLE_KEYS` (ego frame).
        protocols (Sequence): names (``'stp3'``, ``'uniad'``), dicts or :class:`PlanningProtocol`.
        horizons (Sequence[float]): seconds. Defaults to (1, 2, 3).
        plan_dt (float): seconds between trajectory steps. Defaults to 0.5.
        collision_cfg (BEVCollisionConfig, optional): grid / footprint settings (defaults).
        names (Sequence[str], optional): sample names for error messages (tokens).
        pred_reference (str): which point of the vehicle the predictions give: ``'ego'`` (the ego
            origin / rear axle, like ``gt_ego_fut_trajs``; our models) or ``'lidar'`` (the LIDAR_TOP
            origin, expressed in the ego frame, e.g. VAD / UniAD outputs moved with ``lidar2ego``);
            ``'lidar'`` scores L2 against ``gt_ego_fut_lidar_trajs``, as those references do, and
            needs ``collision_cfg.ego_reference='lidar'``. Defaults to ``'ego'``.

    Returns:
        PlanningEvalResult: metrics and the sample counts.
    """
    cfg = collision_cfg or BEVCollisionConfig()
    protos = [build_protocol(p) for p in protocols]
    if len({p.name for p in protos}) != len(protos):
        raise ValueError(f'protocol names must be unique, got {[p.name for p in protos]}')
    arrs = stack_planning_samples(samples, names, cfg)
    pred, gt, mask = arrs.pred, arrs.gt, arrs.mask
    S, T, _ = gt.shape
    steps = [int(round(h / plan_dt)) for h in horizons]
    if any(k < 1 or k > T for k in steps):
        raise ValueError(
            f'horizons {tuple(horizons)} s at plan_dt={plan_dt} s need steps {steps}, '
            f'but the trajectories have {T} steps'
        )
    yaw, origin = reference_transform(arrs.lidar2ego, cfg.ego_reference, S)
    if pred_reference == 'lidar':
        if cfg.ego_reference != 'lidar':
            raise ValueError(
                f"pred_reference='lidar' (LiDAR-origin predictions) needs "
                f"ego_reference='lidar', got {cfg.ego_reference!r}"
            )
        l2 = np.linalg.norm(pred - arrs.gt_lidar, axis=-1)  # (S, T)
        trajs = to_reference(np.stack([pred, arrs.gt_lidar], axis=1), np.arange(S), yaw, origin)
    elif pred_reference == 'ego':
        l2 = np.linalg.norm(pred - gt, axis=-1)  # (S, T)
        trajs = reference_trajectories(
            np.stack([pred, gt], axis=1), gt, arrs.gt_lidar, yaw, origin, cfg.ego_reference
        )  # (S, 2, T, 2) reference frame
    else:
        raise ValueError(f"pred_reference must be 'ego' or 'lidar', got {pred_reference!r}")
    agents = reference_agents(arrs.agents, yaw, origin)
    metrics, counts = {}, {}
    for proto in protos:
        occupied = ~mask if proto.past_scene_end_occupied else None
        if arrs.occupancy is None:
            coll = footprint_collisions(trajs, agents, proto.occupancy_label_ids, proto.grid_layout, cfg, occupied)
        else:
            occ = arrs.occupancy
            if isinstance(occ, dict):
                if proto.name not in occ:
                    raise KeyError(f"'gt_occupancy' has no grid for protocol {proto.name!r} (has {sorted(occ)})")
                occ = occ[proto.name]
            coll = grid_collisions(trajs, occ, proto.grid_layout, cfg, occupied)
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


REFERENCE_NAMES = {
    'lidar': 'LiDAR origin (per-step GT lever arm)',
    'lidar_fixed': 'LiDAR origin (current lever arm, unrotated)',
    'ego': 'ego origin (rear axle)',
}


def format_planning_tables(result: PlanningEvalResult, collision_cfg: Optional[BEVCollisionConfig] = None) -> str:
    """One table per protocol; the title names the protocol, its settings and its sample count."""
    from terminaltables import AsciiTable

    cfg = collision_cfg or BEVCollisionConfig()
    header = ['metric'] + [f'{h:g}s' for h in result.horizons] + ['avg']
    blocks = [
        f'nuScenes planning: {cfg.grid_size}x{cfg.grid_size} BEV grid at {cfg.resolution} m, ego '
        f'{cfg.ego_length} x {cfg.ego_width} m centred {cfg.ego_forward_offset} m ahead (not rotated) '
        f'of the {REFERENCE_NAMES[cfg.ego_reference]}, GT-collision steps excluded='
        f'{cfg.exclude_gt_collisions}, agents by {FILLPOLY_RULE}'
    ]
    for proto in result.protocols:
        rows = [header]
        for label, unit in (('L2', 'm'), ('CR', '%')):
            keys = [f'{h:g}s' for h in result.horizons] + ['avg']
            rows.append([f'{label} ({unit})'] + [f'{result.metrics[f"{proto.name}/{label}_{k}"]:.4f}' for k in keys])
        title = f'{proto.describe()} | samples {result.num_samples[proto.name]}/{result.num_total}'
        blocks.append(title + '\n' + AsciiTable(rows).table)
    return '\n'.join(blocks)
